package ui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// openValue shows one key's value, first page.
func (b *browser) openValue(r KeyRow) tea.Cmd {
	b.mode = modeValue
	b.row = r
	b.val, b.valTop, b.valErr = nil, 0, ""
	b.valPage = ValuePage{}
	b.valGen++
	cmds := []tea.Cmd{b.valueCmd("")}
	if !b.warned && b.capsKnown && !b.caps.NoTouch {
		b.warned = true
		cmds = append(cmds, status(warnLevel,
			"reading a value resets that key's idle time on this server (TYPE, TTL, OBJECT and MEMORY USAGE do not; Redis 7.2+ avoids it)"))
	}
	return tea.Batch(cmds...)
}

func (b *browser) valueCmd(cursor string) tea.Cmd {
	b.valLoading = true
	ctx, src, gen, row, view := b.ctx, b.src, b.valGen, b.row, b.view
	return func() tea.Msg {
		p, err := src.Value(ctx, row, view, cursor)
		return valueMsg{gen: gen, page: p, err: err}
	}
}

func (b *browser) handleValue(msg valueMsg) tea.Cmd {
	if msg.gen != b.valGen {
		return nil
	}
	b.valLoading = false
	if msg.err != nil {
		b.valErr = msg.err.Error()
		return nil
	}
	b.val = append(b.val, msg.page.Lines...)
	b.valPage = msg.page
	return nil
}

func (b *browser) valueKey(k tea.KeyPressMsg) tea.Cmd {
	page := max(1, b.valueRows())
	scroll := func(to int) {
		b.valTop = max(0, min(len(b.val)-page, to))
	}
	switch {
	case key.Matches(k, b.k.Up):
		scroll(b.valTop - 1)
	case key.Matches(k, b.k.Down):
		scroll(b.valTop + 1)
	case key.Matches(k, b.k.PageUp):
		scroll(b.valTop - page)
	case key.Matches(k, b.k.PageDown):
		scroll(b.valTop + page)
		if b.valTop+page >= len(b.val) && b.valPage.Next != "" && !b.valLoading {
			return b.valueCmd(b.valPage.Next)
		}
	case key.Matches(k, b.k.Top):
		scroll(0)
	case key.Matches(k, b.k.Bottom):
		scroll(len(b.val))
	case key.Matches(k, b.k.More):
		if b.valPage.Next != "" && !b.valLoading {
			return b.valueCmd(b.valPage.Next)
		}
	case key.Matches(k, b.k.View):
		b.view = (b.view + 1) % ValueView(len(viewNames))
		return b.openValue(b.row)
	case key.Matches(k, b.k.Back):
		b.mode = modeList
		b.valGen++
	default:
		return b.rowAction(k, b.row)
	}
	return nil
}

// valueRows is how many value lines fit under the key's header.
func (b *browser) valueRows() int { return b.h - 6 }
