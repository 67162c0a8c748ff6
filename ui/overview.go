package ui

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
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
	now      func() time.Time
}

func newOverview(st *Styles, keys KeyMap, db int, interval time.Duration, now func() time.Time) *overview {
	return &overview{st: st, keys: keys, db: db, interval: interval, now: now}
}

// SetSize recomputes the layout for a body of w x h.
func (o *overview) SetSize(w, h int) { o.lay = computeLayout(w, h+2) }

// Capturing is false: the overview has no inputs.
func (o *overview) Capturing() bool { return false }

// Update handles messages for the pane; the overview has no keys of its own
// yet (pause and window reset are global).
func (o *overview) Update(tea.Msg) tea.Cmd { return nil }

// KeyMap is the pane's help.
func (o *overview) KeyMap() help.KeyMap { return overviewHelp{o.keys} }

func (o *overview) setSnapshot(s redisinfo.Snapshot, rtt time.Duration) {
	o.snap = s
	o.rtt = rtt
	// The chart series change with the data, not with each frame.
	o.hitVals, o.opsVals = o.hitVals[:0], o.opsVals[:0]
	for _, p := range s.History {
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
	return lipgloss.JoinVertical(lipgloss.Left,
		row(0, "Hit rate", o.hitRate(inner0, c[0]), "Throughput", o.throughput(inner1, c[0])),
		row(1, "Memory", o.memory(inner0, c[1]), "Clients · network", o.clients(c[1])),
		row(2, o.keyspaceTitle(), o.keyspace(c[2]), "Server · persistence", o.server(c[2])),
	)
}

func (o *overview) title(t string) string {
	if o.stale != "" {
		return t + " · " + o.stale
	}
	return t
}

func (o *overview) hitRate(w, h int) []string {
	s, st := o.snap, o.st
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
	s, st := o.snap, o.st
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
	s, st := o.snap, o.st
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
	s, st := o.snap, o.st
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
	if len(s.Nodes) > 1 {
		lines = append(lines, fmt.Sprintf(" nodes %d", len(s.Nodes)))
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
	}
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}

func (o *overview) keyspaceTitle() string {
	if n := len(o.snap.Nodes); n > 1 {
		return fmt.Sprintf("Nodes · %d masters", n)
	}
	return "Keyspace"
}

// nodes is the table of a cluster's masters, in place of the keyspace.
func (o *overview) nodes(h int) []string {
	st := o.st
	widths := []int{21, 9, 8, 8, 0}
	lines := []string{" " + st.Muted.Render(columns([]string{"node", "keys", "memory", "ops/s", "hit"}, widths))}
	for i, n := range o.snap.Nodes {
		if i == h-2 && len(o.snap.Nodes) > h-1 {
			lines = append(lines, st.Muted.Render(fmt.Sprintf("  +%d more", len(o.snap.Nodes)-i)))
			break
		}
		mem := size(n.Used)
		if n.MemLevel != redisinfo.OK {
			mem = st.Level(n.MemLevel).Render(mem + " " + n.MemLevel.String())
		}
		lines = append(lines, " "+columns([]string{n.Addr, count(n.Keys), mem, rate(n.Ops), pct(n.HitRate)}, widths))
	}
	return lines
}

func (o *overview) keyspace(h int) []string {
	s, st := o.snap, o.st
	if !s.Ready() {
		return nil
	}
	if len(s.Nodes) > 1 {
		return o.nodes(h)
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
	s, st := o.snap, o.st
	if !s.Ready() {
		return nil
	}
	sv, r, p := s.Server, s.Replication, s.Persistence
	mode := sv.Mode
	if mode == "" {
		mode = "standalone"
	}
	lines := []string{fmt.Sprintf(" redis %s · %s · up %s", sv.Version, mode, age(sv.Uptime))}
	if c := s.Cluster; c != nil {
		lvl := c.Level()
		state := "cluster " + c.State
		if lvl != redisinfo.OK {
			state = "✖ " + strings.ToUpper(state)
		}
		lines = append(lines, " "+st.Level(lvl).Render(state)+fmt.Sprintf(" · slots %s ok, %d failing, %d of 16384 assigned · %d nodes",
			count(c.SlotsOK), c.SlotsFail+c.SlotsPFail, c.SlotsAssigned, c.KnownNodes))
	}
	switch r.Role {
	case "slave":
		link := st.OK.Render("link up") + fmt.Sprintf(" · io %ds ago", r.MasterLastIO)
		if !r.MasterLinkUp {
			link = st.Crit.Render(fmt.Sprintf("✖ link DOWN %s", age(time.Duration(r.MasterLinkDown)*time.Second)))
		}
		if r.SyncInProgress {
			link += st.Warn.Render(" · syncing")
		}
		lines = append(lines, " replica of "+r.MasterAddr+" · "+link)
	default:
		rl := fmt.Sprintf(" master · %d replica", r.ConnectedReplicas)
		if r.ConnectedReplicas != 1 {
			rl += "s"
		}
		if r.ConnectedReplicas > 0 {
			rl += fmt.Sprintf(" · max lag %ds", r.MaxReplicaLag)
		}
		lines = append(lines, rl)
	}
	aof := " aof " + st.Muted.Render("off")
	if p.AOF {
		aof = " aof " + st.OK.Render("on")
		if p.AOFRewriting {
			aof += st.Warn.Render(" · rewriting")
		}
		if !p.AOFLastWriteOK {
			aof += st.Crit.Render(" · ✖ last write FAILED")
		}
	}
	lines = append(lines, aof)
	save := " rdb "
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
	save += fmt.Sprintf(" · %s changes", count(p.ChangesSinceSave))
	lines = append(lines, save)
	if p.Loading {
		lines = append(lines, st.Warn.Render(" ! loading dataset"))
	}
	return lines[:min(len(lines), h)]
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
