package ui

import (
	"slices"
	"strings"
)

// column of a table: a fixed width, or flex (shares what is left).
type column struct {
	title string
	width int  // 0: flexible
	right bool // right-aligned (numbers)
	// drop, when set, lets a narrow table hide the column so that the
	// flexible ones keep table.minFlex cells: drop 1 goes first.
	drop int
}

// table lays out rows of cells in w cells, with a header, a selection
// marker and scrolling to keep sel visible within n rows.
type table struct {
	cols    []column
	top     int
	minFlex int // cells a flexible column keeps, hiding droppable columns for it
}

// widths are the columns' widths in w cells; -1 hides a column.
func (t *table) widths(w int) []int {
	out := make([]int, len(t.cols))
	fixed, flex, shown := 0, 0, len(t.cols)
	for i, c := range t.cols {
		out[i] = c.width
		fixed += c.width
		if c.width == 0 {
			flex++
		}
	}
	// one space between columns, one for the marker
	free := func() int { return (w - fixed - shown) / max(1, flex) }
	for next := 1; free() < t.minFlex; next++ {
		i := slices.IndexFunc(t.cols, func(c column) bool { return c.drop == next })
		if i < 0 {
			break
		}
		fixed -= t.cols[i].width
		shown--
		out[i] = -1
	}
	for i, c := range t.cols {
		if c.width == 0 {
			out[i] = max(4, free())
		}
	}
	return out
}

func (t *table) cell(s string, w int, right bool) string {
	if right {
		return pad(s, w)
	}
	return fit(s, w)
}

// render returns the header and up to n of the rows, the selected one
// marked; cell builds a row's cells, only for the rows shown.
func (t *table) render(st *Styles, w, n, sel, rows int, cell func(i int) []string, sortCol int, desc bool) []string {
	ws := t.widths(w)
	var head []string
	for i, c := range t.cols {
		if ws[i] < 0 {
			continue
		}
		title := c.title
		if i == sortCol {
			if desc {
				title += "↓"
			} else {
				title += "↑"
			}
		}
		head = append(head, t.cell(title, ws[i], c.right))
	}
	lines := []string{" " + st.Muted.Render(strings.Join(head, " "))}
	if sel < t.top {
		t.top = sel
	}
	if sel >= t.top+n {
		t.top = sel - n + 1
	}
	t.top = max(0, min(t.top, rows-n))
	for i := t.top; i < rows && i < t.top+n; i++ {
		row := cell(i)
		var cells []string
		for j, c := range t.cols {
			if ws[j] < 0 {
				continue
			}
			v := ""
			if j < len(row) {
				v = row[j]
			}
			cells = append(cells, t.cell(v, ws[j], c.right))
		}
		line := strings.Join(cells, " ")
		if i == sel {
			line = st.Selected.Render("›" + line)
		} else {
			line = " " + line
		}
		lines = append(lines, line)
	}
	return lines
}
