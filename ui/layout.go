package ui

import (
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// Minimum terminal size; below it redtop says so instead of drawing.
const (
	minWidth  = 60
	minHeight = 18
)

// layout is computed once per resize.
type layout struct {
	width, height int
	tooSmall      bool
	colW          [2]int // outer widths of the left and right columns
	rowH          [3]int // outer heights of the three rows of boxes
}

func computeLayout(w, h int) layout { return computeLayoutFor(w, h, false) }

// computeLayoutFor lays out the overview of a cluster (cluster) or of one
// server. A cluster's third row is one box across the screen, the nodes
// table: it prefers a line more than the keyspace, taken from the charts.
func computeLayoutFor(w, h int, cluster bool) layout {
	l := layout{width: w, height: h}
	if w < minWidth || h < minHeight {
		l.tooSmall = true
		return l
	}
	l.colW[0] = w / 2
	l.colW[1] = w - l.colW[0]
	// Content rows: two lines of chrome (top bar, bottom line), two border
	// rows per box. Fill the minimums, then the preferred sizes, then give
	// what is left to the charts and the keyspace.
	avail := h - 2 - 6
	minC := [3]int{4, 3, 3}
	prefC := [3]int{6, 5, 5}
	if cluster {
		prefC = [3]int{5, 5, 6}
	}
	var c [3]int
	c = minC
	avail -= minC[0] + minC[1] + minC[2]
	for i := range c {
		add := min(avail, prefC[i]-c[i])
		c[i] += add
		avail -= add
	}
	// Extra: the hit-rate and throughput charts grow up to 12 lines, then
	// the keyspace and server row takes the rest.
	add := min(avail, 12-c[0])
	c[0] += add
	avail -= add
	c[2] += avail
	for i := range c {
		l.rowH[i] = c[i] + 2
	}
	return l
}

// frame draws a box of exactly w x h cells with the title in the top border.
// Content lines are truncated or padded to fit; extra lines are dropped.
func frame(st Styles, title string, lines []string, w, h int) string {
	if w < 4 || h < 2 {
		return ""
	}
	inner := w - 2
	var b strings.Builder
	t := ansi.Truncate(" "+title+" ", inner-1, "…")
	tw := lipgloss.Width(t)
	b.WriteString(st.Border.Render("╭─"))
	b.WriteString(st.Title.Render(t))
	b.WriteString(st.Border.Render(strings.Repeat("─", max(0, inner-1-tw)) + "╮"))
	side := st.Border.Render("│")
	for i := 0; i < h-2; i++ {
		line := ""
		if i < len(lines) {
			line = lines[i]
		}
		b.WriteByte('\n')
		b.WriteString(side)
		b.WriteString(fit(line, inner))
		b.WriteString(side)
	}
	b.WriteByte('\n')
	b.WriteString(st.Border.Render("╰" + strings.Repeat("─", inner) + "╯"))
	return b.String()
}

// fit truncates or pads a styled line to exactly w cells.
func fit(s string, w int) string {
	if lipgloss.Width(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	if pad := w - lipgloss.Width(s); pad > 0 {
		s += strings.Repeat(" ", pad)
	}
	return s
}

// columns joins styled cells with single spaces, each padded to its width.
func columns(cells []string, widths []int) string {
	var b strings.Builder
	for i, c := range cells {
		if i > 0 {
			b.WriteByte(' ')
		}
		if i < len(widths) && widths[i] > 0 {
			c = fit(c, widths[i])
		}
		b.WriteString(c)
	}
	return b.String()
}

// wrapLines wraps s to width cells, as lines, at spaces: a config name
// such as latency-monitor-threshold, a key or a file name stays whole
// unless it is longer than a line (ansi.Wrap also breaks at hyphens, so
// they are swapped for a non-breaking hyphen, one cell wide too, and back).
func wrapLines(s string, width int) []string {
	const nbh = "\u2011"
	s = strings.ReplaceAll(ansi.Wrap(strings.ReplaceAll(s, "-", nbh), max(10, width), ""), nbh, "-")
	return strings.Split(s, "\n")
}
