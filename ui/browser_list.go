package ui

import (
	"cmp"
	"context"
	"slices"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// openList shows the keys of a prefix (or the one key of a leaf).
func (b *browser) openList(r visRow) tea.Cmd {
	b.mode = modeList
	b.node = r.TreeRow
	b.list, b.listSel, b.listTop = nil, 0, 0
	b.listCursor, b.listDone = 0, false
	b.listGen++
	return b.listCmd()
}

// listCmd reads the next keys of the node's pattern, then their columns,
// in a background command: SCAN steps until a page of keys, then one
// pipelined round trip for the rows.
func (b *browser) listCmd() tea.Cmd {
	if b.listLoading || b.listDone {
		return nil
	}
	b.listLoading = true
	ctx, src, gen, cur, pat, typ := b.ctx, b.src, b.listGen, b.listCursor, b.node.Pattern, b.typ
	return func() tea.Msg {
		var all ScanPage
		deadline := time.Now().Add(300 * time.Millisecond)
		for len(all.Keys) < listPage && time.Now().Before(deadline) {
			p, err := src.ScanPage(ctx, cur, pat, typ, false)
			if err != nil {
				return listPageMsg{gen: gen, err: err}
			}
			all.Keys = append(all.Keys, p.Keys...)
			all.Scanned += p.Scanned
			cur, all.Cursor, all.Done = p.Cursor, p.Cursor, p.Done
			if p.Done {
				break
			}
		}
		names := make([]string, len(all.Keys))
		for i, k := range all.Keys {
			names[i] = k.Key
		}
		var rows []KeyRow
		if len(names) > 0 {
			var err error
			if rows, err = src.Inspect(ctx, names); err != nil {
				return listPageMsg{gen: gen, err: err}
			}
		}
		return listPageMsg{gen: gen, page: all, rows: rows}
	}
}

func (b *browser) handleListPage(msg listPageMsg) tea.Cmd {
	if msg.gen != b.listGen {
		return nil
	}
	b.listLoading = false
	if msg.err != nil {
		return status(errLevel, "reading keys: "+msg.err.Error())
	}
	b.listCursor, b.listDone = msg.page.Cursor, msg.page.Done
	for _, r := range msg.rows {
		if r.Exists {
			b.list = append(b.list, r)
		}
	}
	// Keep reading while the filters leave the screen short.
	if len(b.visibleList()) < b.bodyRows() && !b.listDone {
		return b.listCmd()
	}
	return nil
}

// The orders of the key list, cycled with s: as SCAN found them, then the
// stale-key finder's orders.
var listSorts = []string{"scan order", "memory", "idle time"}

// visibleList is the list after the no-TTL and idle filters, sorted.
func (b *browser) visibleList() []KeyRow {
	if !b.noTTL && b.idleMin == 0 && b.listSort == 0 {
		return b.list
	}
	out := make([]KeyRow, 0, len(b.list))
	for _, r := range b.list {
		if b.noTTL && r.TTL >= 0 {
			continue
		}
		if b.idleMin > 0 && (r.LFU || r.Idle < b.idleMin) {
			continue
		}
		out = append(out, r)
	}
	switch listSorts[b.listSort] {
	case "memory":
		slices.SortStableFunc(out, func(x, y KeyRow) int { return cmp.Compare(y.Bytes, x.Bytes) })
	case "idle time":
		slices.SortStableFunc(out, func(x, y KeyRow) int {
			if x.LFU { // least frequently used first
				return cmp.Compare(x.Freq, y.Freq)
			}
			return cmp.Compare(y.Idle, x.Idle)
		})
	}
	return out
}

func (b *browser) listKey(k tea.KeyPressMsg) tea.Cmd {
	rows := b.visibleList()
	page := max(1, b.bodyRows())
	move := func(to int) tea.Cmd {
		b.listSel = max(0, min(len(rows)-1, to))
		if b.listSel >= len(rows)-page/2 {
			return b.listCmd() // near the end: read on
		}
		return nil
	}
	switch {
	case key.Matches(k, b.k.Up):
		return move(b.listSel - 1)
	case key.Matches(k, b.k.Down):
		return move(b.listSel + 1)
	case key.Matches(k, b.k.PageUp):
		return move(b.listSel - page)
	case key.Matches(k, b.k.PageDown):
		return move(b.listSel + page)
	case key.Matches(k, b.k.Top):
		return move(0)
	case key.Matches(k, b.k.Bottom):
		return move(len(rows) - 1)
	case key.Matches(k, b.k.More):
		return b.listCmd()
	case key.Matches(k, b.k.Back):
		b.mode = modeTree
		b.listGen++ // drop what is still coming
		b.listLoading = false
	case key.Matches(k, b.k.ListSort):
		b.listSort = (b.listSort + 1) % len(listSorts)
		b.listSel = 0
	case key.Matches(k, b.k.NoTTL):
		b.noTTL = !b.noTTL
		b.listSel = 0
		return b.listCmd()
	case key.Matches(k, b.k.Idle):
		b.prompt = newPrompt("Only keys idle longer than", "e.g. 1h, 7d; empty for no limit", "", func(v string) (tea.Cmd, string) {
			if v == "" {
				b.idleMin = 0
				return nil, ""
			}
			d, err := b.src.ParseTTL(v)
			if err != nil {
				return nil, err.Error()
			}
			b.idleMin, b.listSel = d, 0
			if b.caps.LFU {
				return status(warnLevel, "the server evicts by LFU: it keeps access frequency, not idle time"), ""
			}
			return b.listCmd(), ""
		})
	case key.Matches(k, b.k.Open):
		if b.listSel < len(rows) {
			return b.openValue(rows[b.listSel])
		}
	case key.Matches(k, b.k.BulkDelete), key.Matches(k, b.k.BulkExpire), key.Matches(k, b.k.BulkPersist):
		return b.openBulk(k, b.node.Pattern)
	default:
		if b.listSel < len(rows) {
			return b.rowAction(k, rows[b.listSel])
		}
	}
	return nil
}

// rowAction handles the keys that act on one key: TTL, persist, delete,
// copy. They are the same in the list and the value view.
func (b *browser) rowAction(k tea.KeyPressMsg, r KeyRow) tea.Cmd {
	name := b.src.Escape(r.Key)
	write := key.Matches(k, b.k.SetTTL) || key.Matches(k, b.k.Persist) || key.Matches(k, b.k.Delete)
	if write && b.caps.ReadOnly {
		return status(warnLevel, "read-only: "+b.caps.ReadOnlyReason)
	}
	ctx, src, keyName := b.ctx, b.src, r.Key
	switch {
	case key.Matches(k, b.k.Copy):
		return tea.Batch(tea.SetClipboard(r.Key), status(okLevel, "copied "+name+" (OSC 52)"))
	case key.Matches(k, b.k.SetTTL):
		b.prompt = newPrompt("Set TTL of "+name, "90s, 10m, 2h, 14d", "", func(v string) (tea.Cmd, string) {
			ttl, err := src.ParseTTL(v)
			if err != nil {
				return nil, err.Error()
			}
			return actionCmd(ctx, src, keyName, "ttl", func() (string, error) { return src.SetTTL(ctx, keyName, ttl) }), ""
		})
	case key.Matches(k, b.k.Persist):
		return actionCmd(ctx, src, keyName, "persist", func() (string, error) { return src.Persist(ctx, keyName) })
	case key.Matches(k, b.k.Delete):
		b.prompt = newConfirm("Delete a key", []string{"UNLINK " + b.st.Title.Render(name), b.st.Muted.Render(r.Type + ", " + size(r.Bytes))}, func() tea.Cmd {
			return actionCmd(ctx, src, keyName, "delete", func() (string, error) { return src.Delete(ctx, keyName) })
		})
	}
	return nil
}

// actionCmd runs a write, then reads the row again so it updates in place.
func actionCmd(ctx context.Context, src KeySource, keyName, what string, do func() (string, error)) tea.Cmd {
	return func() tea.Msg {
		res, err := do()
		m := actionMsg{key: keyName, what: what, result: res, err: err}
		if err == nil && what != "delete" {
			if rows, err := src.Inspect(ctx, []string{keyName}); err == nil && len(rows) == 1 {
				m.row = &rows[0]
			}
		}
		return m
	}
}

func (b *browser) handleAction(msg actionMsg) tea.Cmd {
	name := b.src.Escape(msg.key)
	if msg.err != nil {
		return status(errLevel, name+": "+msg.err.Error())
	}
	gone := msg.what == "delete" || (msg.row != nil && !msg.row.Exists)
	for i := range b.list {
		if b.list[i].Key != msg.key {
			continue
		}
		if gone {
			b.list = append(b.list[:i], b.list[i+1:]...)
		} else if msg.row != nil {
			b.list[i] = *msg.row
		}
		break
	}
	if b.listSel >= len(b.visibleList()) {
		b.listSel = max(0, len(b.visibleList())-1)
	}
	if b.mode == modeValue && b.row.Key == msg.key {
		if gone {
			b.mode = modeList
		} else if msg.row != nil {
			b.row = *msg.row
		}
	}
	return status(okLevel, name+": "+msg.result)
}
