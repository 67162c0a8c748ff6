package ui

import "strings"

// column of a table: a fixed width, or flex (shares what is left).
type column struct {
	title string
	width int  // 0: flexible
	right bool // right-aligned (numbers)
}

// table lays out rows of cells in w cells, with a header, a selection
// marker and scrolling to keep sel visible within n rows.
type table struct {
	cols []column
	top  int
}

func (t *table) widths(w int) []int {
	out := make([]int, len(t.cols))
	fixed, flex := 0, 0
	for i, c := range t.cols {
		out[i] = c.width
		fixed += c.width
		if c.width == 0 {
			flex++
		}
	}
	free := w - fixed - len(t.cols) // one space between columns, one for the marker
	for i, c := range t.cols {
		if c.width == 0 {
			out[i] = max(4, free/max(1, flex))
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
	head := make([]string, len(t.cols))
	for i, c := range t.cols {
		title := c.title
		if i == sortCol {
			if desc {
				title += "↓"
			} else {
				title += "↑"
			}
		}
		head[i] = t.cell(title, ws[i], c.right)
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
		cells := make([]string, len(t.cols))
		for j, c := range t.cols {
			v := ""
			if j < len(row) {
				v = row[j]
			}
			cells[j] = t.cell(v, ws[j], c.right)
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
