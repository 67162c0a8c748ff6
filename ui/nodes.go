package ui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"redtop/redisinfo"
)

// The nodes box: a cluster's state, its nodes (scrolling when they do not
// fit), and its latest events. It spans the screen in place of the
// keyspace and server boxes.

// maxEventLines is how many recent events the box shows, when it has room.
const maxEventLines = 3

// nodesView is the box's title and lines, h lines of w cells.
func (o *overview) nodesView(w, h int) (string, []string) {
	s := o.snap
	masters, replicas, failed := 0, 0, 0
	for _, n := range s.Nodes {
		switch {
		case slices.Contains(n.Flags, "fail"): // a dead master is no master
			failed++
		case n.Role == "master":
			masters++
		case n.Role == "replica":
			replicas++
		}
	}
	title := fmt.Sprintf("Nodes · %d masters, %d replicas", masters, replicas)
	if failed > 0 {
		title += fmt.Sprintf(", %d failed", failed)
	}
	title += " · sums over masters"
	if !s.Ready() {
		return title, []string{o.st.Muted.Render(" waiting for the first sample…")}
	}
	lines := []string{" " + o.clusterLine()}
	if o.shown != "" && h-2-1 >= min(2, len(s.Nodes)) { // rows first: ▶ marks the node too
		lines = append(lines, " "+o.shownLine())
	}
	// The table gets at least two rows, or all; events what is left, up
	// to three; the rest scrolls.
	avail := max(0, h-len(lines)-1)
	ev := min(len(s.Events), maxEventLines)
	rows := min(len(s.Nodes), max(min(2, len(s.Nodes)), avail-ev), avail)
	ev = max(0, min(ev, avail-rows))
	o.scrollTo(rows)
	if rows > 0 && rows < len(s.Nodes) {
		title += fmt.Sprintf(" · %d-%d of %d", o.top+1, o.top+rows, len(s.Nodes))
	}
	lines = append(lines, o.nodeTable(w, rows)...)
	return title, append(lines, o.eventLines(ev)...)
}

// scrollTo keeps the cursor (when picking) or the node shown on screen.
func (o *overview) scrollTo(rows int) {
	n := len(o.snap.Nodes)
	keep := -1
	switch {
	case o.picking:
		keep = o.sel
	case o.shown != "":
		keep = o.indexOf(o.shown)
	}
	if keep >= 0 && keep < o.top {
		o.top = keep
	}
	if keep >= o.top+rows {
		o.top = keep - rows + 1
	}
	o.top = max(0, min(o.top, n-rows))
}

// clusterLine is CLUSTER INFO's state, with the versions and any node's
// persistence trouble (the server box is not shown on a cluster).
func (o *overview) clusterLine() string {
	s, st := o.snap, o.st
	var line string
	if c := s.Cluster; c != nil {
		lvl := c.Level()
		state := "cluster " + c.State
		if lvl != redisinfo.OK {
			state = "✖ " + strings.ToUpper(state)
		}
		line = st.Level(lvl).Render(state) + " · slots " + count(c.SlotsOK) + " ok"
		if f := c.SlotsFail + c.SlotsPFail; f > 0 {
			line += st.Level(lvl).Render(fmt.Sprintf(", %d failing", f))
		}
		if c.SlotsAssigned < 16384 {
			line += st.Crit.Render(fmt.Sprintf(", %d unassigned", 16384-c.SlotsAssigned))
		}
		line += fmt.Sprintf(" · %d known nodes", c.KnownNodes)
	} else {
		line = st.Muted.Render("cluster state unknown (no CLUSTER INFO)")
	}
	line += fmt.Sprintf(" · redis %s · up %s", s.Server.Version, age(s.Server.Uptime))
	p := s.Persistence
	if !p.LastBgsaveOK {
		line += st.Crit.Render(" · ✖ a node's last save FAILED")
	}
	if !p.AOFLastWriteOK {
		line += st.Crit.Render(" · ✖ a node's aof write FAILED")
	}
	if p.Loading {
		line += st.Warn.Render(" · ! loading")
	}
	return line
}

// shownLine names the node shown, with its keys, role, link and
// persistence.
func (o *overview) shownLine() string {
	s := o.nodeSnap
	line := o.st.Selected.Render("▶ "+o.shown) + " · "
	if !s.Ready() {
		return line + o.st.Muted.Render("no figures yet")
	}
	var keys int64
	for _, k := range s.Keyspace {
		keys += k.Keys
	}
	return line + count(keys) + " keys · " + o.replication(s) + " · " + o.aof(s.Persistence) + " · " + o.rdb(s.Persistence)
}

// nodeCol is a column of the nodes table; its width is that of its
// widest cell.
type nodeCol struct {
	title string
	right bool
	drop  int // dropped when the table is too wide: 1 first, 0 never
}

var nodeCols = []nodeCol{
	{title: "node"}, {title: "role"}, {title: "slots", right: true, drop: 2},
	{title: "keys", right: true}, {title: "memory"}, {title: "ops/s", right: true},
	{title: "hit", right: true, drop: 3}, {title: "clients", right: true, drop: 1}, {title: "link"},
}

// nodeTable is the header and rows lines from o.top, in w cells: the
// link column says connected in full when there is room, up otherwise;
// then clients, slots and the hit rate go, in that order; then the
// addresses are cut.
func (o *overview) nodeTable(w, rows int) []string {
	nodes := o.snap.Nodes
	cells := func(long bool) [][]string {
		out := make([][]string, len(nodes))
		for i, n := range nodes {
			out[i] = o.nodeCells(n, long)
		}
		return out
	}
	all := cells(true)
	widths := colWidths(all)
	if tableWidth(widths) > w-1 { // the marker takes one
		all = cells(false)
		widths = colWidths(all)
	}
	for drop := 1; drop <= 3 && tableWidth(widths) > w-1; drop++ {
		for i, c := range nodeCols {
			if c.drop == drop {
				widths[i] = -1
			}
		}
	}
	if over := tableWidth(widths) - (w - 1); over > 0 {
		widths[0] = max(8, widths[0]-over)
	}
	row := func(cs []string) string {
		var b strings.Builder
		for i, c := range cs {
			if widths[i] < 0 {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			if nodeCols[i].right {
				b.WriteString(alignRight(c, widths[i]))
			} else {
				b.WriteString(fit(c, widths[i]))
			}
		}
		return b.String()
	}
	head := make([]string, len(nodeCols))
	for i, c := range nodeCols {
		head[i] = c.title
	}
	lines := []string{" " + o.st.Muted.Render(row(head))}
	for i := o.top; i < len(nodes) && i < o.top+rows; i++ {
		line := row(all[i])
		switch {
		case o.picking && i == o.sel:
			line = o.st.Selected.Render("›") + line
		case nodes[i].Addr == o.shown:
			line = o.st.Selected.Render("▶") + line
		default:
			line = " " + line
		}
		lines = append(lines, line)
	}
	return lines
}

// alignRight right-aligns a styled cell in w cells, cutting it if longer.
func alignRight(s string, w int) string {
	if n := w - lipgloss.Width(s); n > 0 {
		return strings.Repeat(" ", n) + s
	}
	return fit(s, w)
}

// colWidths are the widest cell of each column, titles included.
func colWidths(rows [][]string) []int {
	w := make([]int, len(nodeCols))
	for i, c := range nodeCols {
		w[i] = len(c.title)
	}
	for _, r := range rows {
		for i, c := range r {
			w[i] = max(w[i], lipgloss.Width(c))
		}
	}
	return w
}

// tableWidth is the width of the columns kept (width >= 0), spaced.
func tableWidth(widths []int) int {
	n, cols := 0, 0
	for _, w := range widths {
		if w >= 0 {
			n += w
			cols++
		}
	}
	return n + max(0, cols-1)
}

// nodeCells are a node's cells, in nodeCols order. Figures of a node that
// never answered are dashes; the link column says why in a word.
func (o *overview) nodeCells(n redisinfo.NodeStatus, long bool) []string {
	st := o.st
	role := n.Role
	if role == "" {
		role = "?"
	}
	slots := ""
	if role == "master" {
		slots = count(int64(n.Slots))
	}
	if n.LastOK.IsZero() {
		return []string{n.Addr, role, slots, "—", "—", "—", "—", "—", o.linkCell(n, long)}
	}
	mem := size(n.Used)
	if n.MemLevel != redisinfo.OK {
		mem = st.Level(n.MemLevel).Render(mem + " " + n.MemLevel.String())
	}
	figures := []string{count(n.Keys), mem, rate(n.Ops), pct(n.HitRate), count(n.Clients)}
	if n.Err != "" { // the last figures it gave, dimmed; the link cell says why
		for i, f := range figures {
			figures[i] = st.Muted.Render(ansi.Strip(f))
		}
	}
	return append(append([]string{n.Addr, role, slots}, figures...), o.linkCell(n, long))
}

// linkCell is the node's state as the cluster and redtop see it, worst
// first, in a word with a symbol: a failed node, a suspected one, a link
// down, a node redtop cannot reach, one loading or in handshake.
func (o *overview) linkCell(n redisinfo.NodeStatus, long bool) string {
	st := o.st
	has := func(f string) bool { return slices.Contains(n.Flags, f) }
	switch {
	case has("fail"):
		return st.Crit.Render("✖ fail")
	case has("pfail"):
		return st.Warn.Render("? pfail")
	case n.Link == "disconnected" && long:
		return st.Crit.Render("✖ disconnected")
	case n.Link == "disconnected":
		return st.Crit.Render("✖ down")
	case n.Err != "":
		return st.Crit.Render("✖ no reply")
	case has("loading"):
		return st.Warn.Render("◌ loading")
	case has("handshake"):
		return st.Warn.Render("◌ handshake")
	case n.Link == "connected" && long:
		return st.OK.Render("connected")
	case n.Link == "connected":
		return st.OK.Render("up")
	}
	return st.Muted.Render("—")
}

// eventLines are the newest n events, newest first, with their age and
// level as a symbol.
func (o *overview) eventLines(n int) []string {
	ev := o.snap.Events
	out := make([]string, 0, n)
	for i := len(ev) - 1; i >= 0 && len(out) < n; i-- {
		e := ev[i]
		sym, style := eventSymbol(e.Level, o.st)
		when := "now"
		if d := o.now().Sub(e.At); d >= time.Second {
			when = age(d.Round(time.Second)) + " ago"
		}
		out = append(out, " "+style.Render(sym)+" "+o.st.Muted.Render(when)+" "+oneLine(e.Text))
	}
	return out
}

// oneLine keeps a text on its line: an error may join several with
// newlines.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// eventSymbol is a level's symbol and style, as on the status line.
func eventSymbol(l redisinfo.Level, st *Styles) (string, lipgloss.Style) {
	switch l {
	case redisinfo.Crit:
		return "✖", st.Crit
	case redisinfo.Warn:
		return "!", st.Warn
	}
	return "✔", st.OK
}
