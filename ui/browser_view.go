package ui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// View draws the pane: exactly h lines of w cells.
func (b *browser) View() string {
	if b.w < 20 || b.h < 4 {
		return strings.Repeat("\n", max(0, b.h-1))
	}
	var out string
	switch b.mode {
	case modeList:
		out = b.listView()
	case modeValue:
		out = b.valueView()
	default:
		out = b.treeView()
	}
	if b.prompt != nil {
		out = overlay(out, b.prompt.view(b.st, min(b.w, max(50, b.w*3/4))), b.w)
	}
	if b.bulk != nil {
		out = overlay(out, b.bulk.view(b.st, min(b.w, max(60, b.w*9/10)), b.h), b.w)
	}
	return out
}

func (b *browser) title() string {
	typ := "any type"
	if b.typ != "" {
		typ = "type " + b.typ
	}
	pat := "match " + b.src.Escape(b.pattern)
	if b.prefix != "" && b.pattern != "*" {
		pat = "match " + b.src.Escape(b.relative(b.pattern)) + " (= " + b.src.Escape(b.pattern) + ")"
	}
	return fmt.Sprintf("Keys · db%d · %s · %s · %s", b.db, pat, typ, b.scanProgress())
}

// treeColumns are the widths of the numeric columns and of the name.
func (b *browser) treeColumns() (name int, widths []int) {
	inner := b.w - 2
	largest := max(0, min(30, inner/4))
	if inner < 70 {
		largest = 0
	}
	widths = []int{10, 9, 5, largest}
	used := 1 + 10 + 1 + 9 + 1 + 5
	if largest > 0 {
		used += 1 + largest
	}
	return max(8, inner-used-1), widths
}

func (b *browser) treeView() string {
	st := b.st
	nameW, widths := b.treeColumns()
	head := []string{fit("prefix", nameW), pad("keys", widths[0]), pad("memory", widths[1]), pad("ttl", widths[2])}
	if widths[3] > 0 {
		head = append(head, "largest")
	}
	lines := []string{" " + st.Muted.Render(strings.Join(head, " "))}
	rows := b.bodyRows()
	if b.sel < b.top {
		b.top = b.sel
	}
	if b.sel >= b.top+rows {
		b.top = b.sel - rows + 1
	}
	for i := b.top; i < len(b.rows) && i < b.top+rows; i++ {
		r := b.rows[i]
		marker := "  "
		if r.HasChildren {
			marker = "▸ "
			if b.expanded[r.ID] {
				marker = "▾ "
			}
		}
		label := strings.Repeat("  ", r.depth) + marker + r.Label
		cells := []string{fit(label, nameW), pad(count(r.Keys), widths[0]), pad(size(r.Bytes), widths[1]), pad(ttlShare(r), widths[2])}
		if widths[3] > 0 {
			cells = append(cells, fit(r.Largest, widths[3]))
		}
		line := strings.Join(cells, " ")
		if i == b.sel {
			line = st.Selected.Render("›" + line)
		} else {
			line = " " + line
		}
		lines = append(lines, line)
	}
	if len(b.rows) == 0 {
		msg := "no keys yet"
		if b.done {
			msg = "no keys match"
		}
		lines = append(lines, st.Muted.Render(" "+msg))
	}
	for len(lines) < rows+1 {
		lines = append(lines, "")
	}
	lines = append(lines, " "+st.Muted.Render(b.treeFooter()))
	return frame(*st, b.title(), lines, b.w, b.h)
}

func (b *browser) treeFooter() string {
	parts := []string{}
	if b.tree != nil {
		t := b.tree.Total()
		parts = append(parts, fmt.Sprintf("%s keys · %s sampled memory · %s with TTL", count(t.Keys), size(t.Bytes), ttlShare(visRow{TreeRow: t})))
	}
	switch {
	case b.prefix != "":
		parts = append(parts, "patterns relative to "+b.src.Escape(b.prefix))
	case b.detected != "":
		parts = append(parts, "django-redis layout "+b.src.Escape(b.detected)+" (--key-prefix "+b.src.Escape(b.detected)+" makes patterns relative)")
	}
	order := "by count"
	if b.byMemory {
		order = "by memory"
	}
	parts = append(parts, "sorted "+order, "delimiter "+strconv.Quote(b.delim))
	if b.caps.ReadOnly {
		parts = append(parts, "read-only: "+b.caps.ReadOnlyReason)
	}
	return strings.Join(parts, " · ")
}

func ttlShare(r visRow) string {
	if r.Keys == 0 {
		return "—"
	}
	return fmt.Sprintf("%d%%", r.WithTTL*100/r.Keys)
}

// pad right-aligns s in w cells.
func pad(s string, w int) string {
	if n := w - len([]rune(s)); n > 0 {
		return strings.Repeat(" ", n) + s
	}
	return s
}

func (b *browser) listView() string {
	st := b.st
	rows := b.visibleList()
	inner := b.w - 2
	idleHead := "idle"
	if b.caps.LFU {
		idleHead = "freq"
	}
	widths := []int{6, 9, 9, 7, 10, 9}
	nameW := max(10, inner-1-(6+9+9+7+10+9)-6)
	if inner < 70 {
		widths = []int{6, 8, 8, 6, 0, 0}
		nameW = max(10, inner-1-(6+8+8+6)-4)
	}
	head := []string{fit("key", nameW), fit("type", widths[0]), pad("ttl", widths[1]), pad("memory", widths[2]), pad(idleHead, widths[3])}
	if widths[4] > 0 {
		head = append(head, fit(" encoding", widths[4]), pad("length", widths[5]))
	}
	lines := []string{" " + st.Muted.Render(strings.Join(head, " "))}
	n := b.bodyRows()
	if b.listSel < b.listTop {
		b.listTop = b.listSel
	}
	if b.listSel >= b.listTop+n {
		b.listTop = b.listSel - n + 1
	}
	for i := b.listTop; i < len(rows) && i < b.listTop+n; i++ {
		r := rows[i]
		idle := age(r.Idle)
		if r.LFU {
			idle = strconv.FormatInt(r.Freq, 10)
		}
		cells := []string{fit(middle(b.src.Escape(r.Key), nameW), nameW), fit(r.Type, widths[0]), pad(ttlText(r.TTL), widths[1]), pad(size(r.Bytes), widths[2]), pad(idle, widths[3])}
		if widths[4] > 0 {
			cells = append(cells, fit(" "+r.Encoding, widths[4]), pad(lenText(r.Len), widths[5]))
		}
		line := strings.Join(cells, " ")
		if i == b.listSel {
			line = st.Selected.Render("›" + line)
		} else {
			line = " " + line
		}
		lines = append(lines, line)
	}
	if len(rows) == 0 {
		msg := "reading…"
		if !b.listLoading {
			msg = "no keys here (they may have expired or been deleted)"
		}
		lines = append(lines, st.Muted.Render(" "+msg))
	}
	for len(lines) < n+1 {
		lines = append(lines, "")
	}
	lines = append(lines, " "+st.Muted.Render(b.listFooter(len(rows))))
	title := fmt.Sprintf("%s · %s keys in the tree", b.src.Escape(b.node.Pattern), count(b.node.Keys))
	return frame(*st, title, lines, b.w, b.h)
}

func (b *browser) listFooter(shown int) string {
	parts := []string{fmt.Sprintf("%s shown", count(int64(shown)))}
	switch {
	case b.listLoading:
		parts = append(parts, "reading…")
	case !b.listDone:
		parts = append(parts, "] for more")
	default:
		parts = append(parts, "all read")
	}
	if b.listSort > 0 {
		parts = append(parts, "sorted by "+listSorts[b.listSort]+" (of the keys read)")
	}
	if b.noTTL {
		parts = append(parts, "filter: no TTL")
	}
	if b.idleMin > 0 {
		parts = append(parts, "filter: idle > "+age(b.idleMin))
	}
	if b.caps.LFU {
		parts = append(parts, "LFU policy: freq is OBJECT FREQ, not idle time")
	}
	if b.caps.ReadOnly {
		parts = append(parts, "read-only: "+b.caps.ReadOnlyReason)
	}
	return strings.Join(parts, " · ")
}

func ttlText(d time.Duration) string {
	switch {
	case d == -1 || d == -1*time.Millisecond:
		return "none"
	case d < 0:
		return "gone"
	}
	return age(d)
}

func (b *browser) valueView() string {
	st := b.st
	r := b.row
	meta := fmt.Sprintf(" %s · %s · ttl %s · %s", r.Type, size(r.Bytes), ttlText(r.TTL), r.Encoding)
	if r.Len >= 0 {
		meta += " · length " + count(r.Len)
	}
	if r.LFU {
		meta += fmt.Sprintf(" · freq %d", r.Freq)
	} else {
		meta += " · idle " + age(r.Idle)
	}
	how := " view " + st.Title.Render(b.view.String())
	p := b.valPage
	if p.Chain != "" {
		how += " · " + p.Chain
	}
	switch {
	case b.valLoading:
		how += " · reading…"
	case p.Truncated:
		how += st.Warn.Render(fmt.Sprintf(" · first %s of %s: truncated", size(p.Shown), size(p.Total)))
	case p.Next != "":
		how += fmt.Sprintf(" · %s of %s read, ] for more", count(p.Shown), count(p.Total))
	case p.Total > 0 && r.Type != "string":
		how += fmt.Sprintf(" · all %s read", count(p.Total))
	}
	lines := []string{meta, how}
	if p.Err != "" {
		lines = append(lines, st.Warn.Render(" ! "+p.Err))
	}
	if b.valErr != "" {
		lines = append(lines, st.Crit.Render(" ✖ "+b.valErr))
	}
	lines = append(lines, st.Muted.Render(strings.Repeat("─", b.w-2)))
	n := b.h - 2 - len(lines)
	for i := b.valTop; i < len(b.val) && i < b.valTop+n; i++ {
		lines = append(lines, " "+b.val[i])
	}
	return frame(*st, b.src.Escape(r.Key), lines, b.w, b.h)
}

// lenText is a length, or "—" when it was not read (reading it would have
// reset the key's idle time).
func lenText(n int64) string {
	if n < 0 {
		return "—"
	}
	return count(n)
}

// middle shortens s to w cells by cutting its middle: key names differ at
// the end (ids) as often as at the start.
func middle(s string, w int) string {
	if lipgloss.Width(s) <= w || w < 8 {
		return s
	}
	head := (w - 1) * 2 / 5
	tail := w - 1 - head
	return ansi.Truncate(s, head, "") + "…" + ansi.TruncateLeft(s, lipgloss.Width(s)-tail, "")
}
