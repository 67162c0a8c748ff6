package ui

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"redtop/redisinfo"
)

// overview is the first screen: live panes of rates and gauges.
type overview struct {
	st       *Styles
	keys     KeyMap
	db       int
	interval time.Duration
	snap     redisinfo.Snapshot
	rtt      time.Duration  // last INFO round trip, worst node
	latency  *latencyWindow // redtop's PING round trips; nil without them
	hitVals  []float64      // History's hit rates and ops, for the charts
	opsVals  []float64
	stale    string // "" when fresh, else a marker for box titles
	lay      layout
	w, h     int // the body's size, for a layout change when a cluster shows up
	now      func() time.Time

	// On a cluster: the nodes table, and the node whose own figures the
	// boxes show instead of the cluster's.
	picking  bool   // the cursor is on the nodes table
	sel      int    // the cursor, an index into snap.Nodes
	top      int    // the first node row on screen
	shown    string // the node shown; "" for the cluster-wide view
	nodeSnap redisinfo.Snapshot
}

func newOverview(st *Styles, keys KeyMap, db int, interval time.Duration, now func() time.Time) *overview {
	return &overview{st: st, keys: keys, db: db, interval: interval, now: now}
}

// SetSize recomputes the layout for a body of w x h.
func (o *overview) SetSize(w, h int) {
	o.w, o.h = w, h
	o.lay = computeLayoutFor(w, h+2, o.isCluster())
}

// Capturing is false: the overview has no inputs.
func (o *overview) Capturing() bool { return false }

// isCluster: the overview watches a Redis Cluster, and shows its nodes.
func (o *overview) isCluster() bool { return len(o.snap.Nodes) > 1 || o.snap.Cluster != nil }

// Update handles the nodes table's keys, on a cluster (pause and window
// reset are global). Opening a node is a nodePickedMsg: the root makes the
// other panes follow.
func (o *overview) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok || !o.isCluster() {
		return nil
	}
	nodes := o.snap.Nodes
	switch {
	case key.Matches(k, o.keys.PickNode):
		o.picking = !o.picking
		o.sel = o.indexOf(o.shown)
	case key.Matches(k, o.keys.NodeDown, o.keys.NodeUp):
		if !o.picking { // the first move shows the cursor where it is
			o.picking, o.sel = true, o.indexOf(o.shown)
			return nil
		}
		if key.Matches(k, o.keys.NodeDown) {
			o.sel = min(len(nodes)-1, o.sel+1)
		} else {
			o.sel = max(0, o.sel-1)
		}
	case key.Matches(k, o.keys.OpenNode):
		if o.picking && o.sel < len(nodes) {
			o.picking = false
			return pickNode(nodes[o.sel].Addr)
		}
	case key.Matches(k, o.keys.ClusterView):
		o.picking = false
		if o.shown != "" {
			return pickNode("")
		}
	}
	return nil
}

// indexOf is the row of a node in the table, 0 when it is not there.
func (o *overview) indexOf(addr string) int {
	for i, n := range o.snap.Nodes {
		if n.Addr == addr {
			return i
		}
	}
	return 0
}

func pickNode(addr string) tea.Cmd {
	return func() tea.Msg { return nodePickedMsg{addr: addr} }
}

// KeyMap is the pane's help.
func (o *overview) KeyMap() help.KeyMap {
	return overviewHelp{k: o.keys, cluster: o.isCluster(), picking: o.picking, showing: o.shown != ""}
}

func (o *overview) setSnapshot(s redisinfo.Snapshot, rtt time.Duration) {
	wasCluster := o.isCluster()
	o.snap = s
	if o.shown == "" {
		o.rtt = rtt
	}
	if o.isCluster() != wasCluster {
		o.SetSize(o.w, o.h)
	}
	o.sel = max(0, min(o.sel, len(s.Nodes)-1))
	o.charts()
}

// showNode makes the boxes show one node's own figures (addr "" for the
// cluster's), with that node's INFO round trip.
func (o *overview) showNode(addr string, s redisinfo.Snapshot, rtt time.Duration) {
	o.shown, o.nodeSnap = addr, s
	if addr != "" {
		o.rtt = rtt
	}
	o.charts()
}

// data is the snapshot the boxes show: the node's or the cluster's.
func (o *overview) data() redisinfo.Snapshot {
	if o.shown != "" {
		return o.nodeSnap
	}
	return o.snap
}

// charts recomputes the chart series: they change with the data, not with
// each frame.
func (o *overview) charts() {
	o.hitVals, o.opsVals = o.hitVals[:0], o.opsVals[:0]
	for _, p := range o.data().History {
		o.hitVals = append(o.hitVals, p.HitRate)
		o.opsVals = append(o.opsVals, p.Ops)
	}
}

// body renders the boxes, exactly lay.height-2 lines.
func (o *overview) View() string {
	l := o.lay
	if l.tooSmall {
		return ""
	}
	c := [3]int{l.rowH[0] - 2, l.rowH[1] - 2, l.rowH[2] - 2}
	row := func(i int, leftTitle string, left []string, rightTitle string, right []string) string {
		return lipgloss.JoinHorizontal(lipgloss.Top,
			frame(*o.st, o.title(leftTitle), left, l.colW[0], l.rowH[i]),
			frame(*o.st, o.title(rightTitle), right, l.colW[1], l.rowH[i]))
	}
	inner0, inner1 := l.colW[0]-2, l.colW[1]-2
	third := row(2, "Keyspace", o.keyspace(c[2]), "Server · persistence", o.server(c[2]))
	if o.isCluster() { // one box across: the nodes table
		title, lines := o.nodesView(l.width-2, c[2])
		third = frame(*o.st, o.title(title), lines, l.width, l.rowH[2])
	}
	return lipgloss.JoinVertical(lipgloss.Left,
		row(0, "Hit rate", o.hitRate(inner0, c[0]), "Throughput", o.throughput(inner1, c[0])),
		row(1, "Memory", o.memory(inner0, c[1]), "Clients · network", o.clients(c[1])),
		third,
	)
}

func (o *overview) title(t string) string {
	if o.stale != "" {
		return t + " · " + o.stale
	}
	return t
}

func (o *overview) hitRate(w, h int) []string {
	s, st := o.data(), o.st
	if !s.Ready() {
		return []string{st.Muted.Render(" waiting for the first sample…")}
	}
	decimals, sep := 1, "  "
	win := func(label string, r redisinfo.Rates, want time.Duration, bold bool) string {
		v := pct(r.HitRate)
		if decimals == 0 && !math.IsNaN(r.HitRate) {
			v = fmt.Sprintf("%.0f%%", r.HitRate*100)
		}
		if want > 0 && r.Span < want-o.interval/2 {
			v += "*"
		}
		if bold {
			v = st.Title.Render(v)
		}
		return st.Muted.Render(label+" ") + v
	}
	first := func() string {
		return " " + win(age(o.interval), s.Last, 0, false) + sep +
			win("10s", s.Short, redisinfo.ShortWindow, true) + sep +
			win("60s", s.Long, redisinfo.LongWindow, false)
	}
	line := first()
	if lipgloss.Width(line) > w {
		decimals, sep = 0, " " // narrow terminal: whole percents, all three windows
		line = first()
	}
	lines := []string{
		line,
		fmt.Sprintf(" hits %s/s  misses %s/s", rate(s.Short.Hits), rate(s.Short.Misses)),
	}
	third := " " + st.Muted.Render("lifetime ") + pct(s.LifetimeHitRate)
	switch {
	case s.ResetReason != "":
		third += st.Warn.Render("  ↺ since " + s.Epoch.Format("15:04:05"))
	}
	if s.Long.Span < redisinfo.LongWindow-o.interval/2 {
		third += st.Muted.Render(fmt.Sprintf("  *%s so far", age(s.Long.Span.Round(time.Second))))
	}
	lines = append(lines, third)
	if rows := h - len(lines); rows > 0 {
		vals := o.hitVals
		lo, hi := scale(vals, true)
		lines = append(lines, chart(st, vals, w, rows, lo, hi, fmt.Sprintf("%.0f%%", hi*100), fmt.Sprintf("%.0f%%", lo*100))...)
	}
	return lines
}

// chart draws a sparkline with its scale on the left.
func chart(st *Styles, vals []float64, w, rows int, lo, hi float64, top, bottom string) []string {
	const axis = 5
	spark := sparkline(vals, max(1, w-axis-2), rows, lo, hi)
	out := make([]string, len(spark))
	for i, line := range spark {
		label := ""
		switch {
		case i == 0:
			label = top
		case i == len(spark)-1:
			label = bottom
		}
		out[i] = st.Muted.Render(fmt.Sprintf(" %*s ", axis, label)) + st.Spark.Render(line)
	}
	return out
}

func (o *overview) throughput(w, h int) []string {
	s, st := o.data(), o.st
	if !s.Ready() {
		return nil
	}
	lines := []string{fmt.Sprintf(" ops/s %s  %s %s  %s %s",
		st.Title.Render(rate(s.Last.Ops)), st.Muted.Render("10s"), rate(s.Short.Ops), st.Muted.Render("inst"), count(s.InstantOps))}
	sparkRows := max(1, (h-1)/3)
	cmdRows := h - 1 - sparkRows
	vals := o.opsVals
	lo, hi := scale(vals, false)
	if sparkRows == 1 {
		lines = append(lines, chart(st, vals, w, sparkRows, lo, hi, short(lo)+"-", "")...)
	} else {
		lines = append(lines, chart(st, vals, w, sparkRows, lo, hi, short(hi), short(lo))...)
	}
	cmds := s.Short.Commands
	for i := 0; i < cmdRows && i < len(cmds); i++ {
		c := cmds[i]
		lines = append(lines, " "+columns([]string{
			strings.ToUpper(c.Name), rate(c.PerSec) + "/s", st.Muted.Render(usec(c.UsecPerCall) + "/call"),
		}, []int{12, 10, 0}))
	}
	if len(cmds) == 0 && cmdRows > 0 {
		lines = append(lines, st.Muted.Render(" no commands in the last 10s"))
	}
	return lines
}

func (o *overview) memory(w, h int) []string {
	s, st := o.data(), o.st
	if !s.Ready() {
		return nil
	}
	m := s.Memory
	used := " used " + st.Title.Render(size(m.Used))
	if m.Max > 0 {
		lvl := m.Level()
		used += fmt.Sprintf(" of %s  ", size(m.Max)) + st.Level(lvl).Render(fmt.Sprintf("%.0f%% %s", m.Percent, lvl))
	} else {
		used += st.Muted.Render("  no maxmemory limit")
	}
	evict := fmt.Sprintf(" evicted %s/s  expired %s/s", rate(s.Short.Evicted), rate(s.Short.Expired))
	if s.Short.Evicted > 0 {
		evict = st.Warn.Render(" ! ") + strings.TrimPrefix(evict, " ") + st.Warn.Render(" evicting")
	}
	rss := fmt.Sprintf(" rss %s  peak %s  frag %.2f", size(m.RSS), size(m.Peak), m.Frag)
	policy := " policy " + m.Policy
	lines := []string{used}
	if h >= 5 && m.Max > 0 {
		lines = append(lines, " "+gauge(st, m.Percent, w-2, m.Level()))
	}
	lines = append(lines, evict, rss)
	if len(lines) < h {
		lines = append(lines, policy)
	} else if h >= 3 {
		lines[len(lines)-1] += "  " + m.Policy
	}
	return lines
}

// gauge is a bar of w cells filled to pct.
func gauge(st *Styles, pct float64, w int, lvl redisinfo.Level) string {
	if w < 3 {
		return ""
	}
	n := int(math.Round(pct / 100 * float64(w)))
	n = max(0, min(w, n))
	return st.Level(lvl).Render(strings.Repeat("█", n)) + st.Muted.Render(strings.Repeat("░", w-n))
}

func (o *overview) clients(h int) []string {
	s, st := o.data(), o.st
	if !s.Ready() {
		return nil
	}
	c := s.Clients
	rej := fmt.Sprintf(" rejected %s/s", rate(s.Short.Rejected))
	if s.Short.Rejected > 0 {
		rej = st.Crit.Render(" ! ") + strings.TrimPrefix(rej, " ") + st.Crit.Render(" maxclients?")
	}
	lines := []string{
		fmt.Sprintf(" connected %s  blocked %s", st.Title.Render(count(c.Connected)), count(c.Blocked)),
		fmt.Sprintf(" net in %s/s  out %s/s", size(int64(s.Short.NetIn)), size(int64(s.Short.NetOut))),
		rej,
		fmt.Sprintf(" server cpu %.1f%%  %s", s.Short.CPU, st.Muted.Render("(10s)")),
		o.pingLine(),
	}
	if l := o.latency; l != nil && len(l.rtt) > 1 && h > len(lines) {
		vals := l.us
		lo, hi := scale(vals, false)
		lines = append(lines, chart(o.st, vals, o.lay.colW[1]-2, min(2, h-len(lines)), lo, hi, rtt(time.Duration(hi)*time.Microsecond), "")...)
	}
	return lines[:min(len(lines), h)]
}

func rtt(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}

func (o *overview) keyspace(h int) []string {
	s, st := o.data(), o.st
	if !s.Ready() {
		return nil
	}
	dbs := make([]int, 0, len(s.Keyspace)+1)
	seen := false
	for db := range s.Keyspace {
		dbs = append(dbs, db)
		seen = seen || db == o.db
	}
	if !seen {
		dbs = append(dbs, o.db)
	}
	sort.Ints(dbs)
	widths := []int{5, 10, 10, 0}
	if o.lay.colW[0]-2 < 36 {
		widths = []int{4, 7, 7, 0}
	}
	lines := []string{" " + st.Muted.Render(columns([]string{"db", "keys", "w/ ttl", "avg ttl"}, widths))}
	rows := h - 1
	for i, db := range dbs {
		if i == rows-1 && len(dbs) > rows {
			lines = append(lines, st.Muted.Render(fmt.Sprintf("  +%d more", len(dbs)-i)))
			break
		}
		k := s.Keyspace[db]
		ttl := "—"
		if k.Expires > 0 {
			ttl = age(time.Duration(k.AvgTTL) * time.Millisecond)
		}
		cells := []string{"db" + strconv.Itoa(db), count(k.Keys), count(k.Expires), ttl}
		line := columns(cells, widths)
		if db == o.db {
			lines = append(lines, st.Selected.Render("▶"+line))
		} else {
			lines = append(lines, " "+line)
		}
	}
	return lines
}

func (o *overview) server(h int) []string {
	s := o.data()
	if !s.Ready() {
		return nil
	}
	sv, p := s.Server, s.Persistence
	mode := sv.Mode
	if mode == "" {
		mode = "standalone"
	}
	lines := []string{fmt.Sprintf(" redis %s · %s · up %s", sv.Version, mode, age(sv.Uptime))}
	if sn := s.Sentinel; sn != nil {
		lines = append(lines, " "+o.sentinel(sn))
	}
	lines = append(lines, " "+o.replication(s))
	// The latest event (a Sentinel failover) while it is recent: the
	// status line showed it for a few seconds only.
	if ev := o.snap.Events; len(ev) > 0 && o.now().Sub(ev[len(ev)-1].At) < recentEvent {
		lines = append(lines, o.eventLines(1)...)
	}
	lines = append(lines, " "+o.aof(p), " "+o.rdb(p))
	if sn := s.Sentinel; sn != nil && len(sn.Replicas) > 0 {
		lines = append(lines, " "+o.sentinelReplicas(sn))
	}
	if p.Loading {
		lines = append(lines, o.st.Warn.Render(" ! loading dataset"))
	}
	return lines[:min(len(lines), h)]
}

// recentEvent is how long the server box repeats the latest event.
const recentEvent = 10 * time.Minute

// sentinel is the Sentinel's view of the master in one line: its state in
// words, quorum, sentinels and epoch, or how old the view is when no
// sentinel answers.
func (o *overview) sentinel(sn *redisinfo.SentinelInfo) string {
	// The master's own state: a replica that lags or is down shows on the
	// replicas line, not as "! ok".
	lvl := sn.MasterLevel()
	sym, style := eventSymbol(lvl, o.st)
	if lvl == redisinfo.OK {
		sym = "✔"
	}
	if sn.Err != nil {
		line := "sentinel " + sn.Name + " " + style.Render(sym+" no answer")
		if !sn.At.IsZero() {
			line += " · view " + age(o.now().Sub(sn.At).Round(time.Second)) + " old"
		}
		return line
	}
	line := "sentinel " + sn.Name + " " + style.Render(sym+" "+sn.Status())
	return line + fmt.Sprintf(" · quorum %d of %d · epoch %d", sn.Quorum, sn.Sentinels, sn.ConfigEpoch)
}

// sentinelReplicas lists the replicas the sentinel knows, with their
// state in a word.
func (o *overview) sentinelReplicas(sn *redisinfo.SentinelInfo) string {
	parts := make([]string, 0, len(sn.Replicas))
	for _, r := range sn.Replicas {
		st := r.Status()
		if r.Level() != redisinfo.OK {
			st = o.st.Warn.Render("! " + st)
		} else if r.State != "" {
			st += fmt.Sprintf(" lag %ds", int(r.Lag.Seconds()))
		}
		parts = append(parts, r.Addr+" "+st)
	}
	return "replicas " + strings.Join(parts, " · ")
}

// replication is the role line: a replica's link to its master, or a
// master's replicas.
func (o *overview) replication(s redisinfo.Snapshot) string {
	st, r := o.st, s.Replication
	if r.Role == "slave" {
		link := st.OK.Render("link up") + fmt.Sprintf(" · io %ds ago", r.MasterLastIO)
		if !r.MasterLinkUp {
			link = st.Crit.Render(fmt.Sprintf("✖ link DOWN %s", age(time.Duration(r.MasterLinkDown)*time.Second)))
		}
		if r.SyncInProgress {
			link += st.Warn.Render(" · syncing")
		}
		return "replica of " + r.MasterAddr + " · " + link
	}
	rl := fmt.Sprintf("master · %d replica", r.ConnectedReplicas)
	if r.ConnectedReplicas != 1 {
		rl += "s"
	}
	if r.ConnectedReplicas > 0 {
		rl += fmt.Sprintf(" · max lag %ds", r.MaxReplicaLag)
	}
	return rl
}

func (o *overview) aof(p redisinfo.Persistence) string {
	st := o.st
	if !p.AOF {
		return "aof " + st.Muted.Render("off")
	}
	aof := "aof " + st.OK.Render("on")
	if p.AOFRewriting {
		aof += st.Warn.Render(" · rewriting")
	}
	if !p.AOFLastWriteOK {
		aof += st.Crit.Render(" · ✖ last write FAILED")
	}
	return aof
}

func (o *overview) rdb(p redisinfo.Persistence) string {
	st := o.st
	save := "rdb "
	switch {
	case !p.LastBgsaveOK:
		save += st.Crit.Render("✖ last save FAILED")
	case p.NeverSaved:
		save += st.Muted.Render("no save since start")
	default:
		save += "saved " + st.OK.Render("ok")
		if !p.LastBgsaveTime.IsZero() {
			save += " " + age(o.now().Sub(p.LastBgsaveTime)) + " ago"
		}
	}
	if p.BgsaveInProgress {
		save += st.Warn.Render(" · saving")
	}
	return save + fmt.Sprintf(" · %s changes", count(p.ChangesSinceSave))
}

// pingLine is redtop's own PING round trip: last, p50 and p99 over the last
// minute; the INFO round trip until PINGs come in.
func (o *overview) pingLine() string {
	l := o.latency
	if l == nil || len(l.rtt) == 0 {
		if l != nil && l.lastErr != "" {
			return " ping " + o.st.Crit.Render("✖ failing")
		}
		return fmt.Sprintf(" INFO round trip %s", rtt(o.rtt))
	}
	last, p50, p99 := l.last, l.p50, l.p99
	return fmt.Sprintf(" ping %s  %s %s  %s %s", o.st.Title.Render(rtt(last)), o.st.Muted.Render("p50"), rtt(p50), o.st.Muted.Render("p99"), rtt(p99))
}
