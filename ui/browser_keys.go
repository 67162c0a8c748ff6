package ui

import "charm.land/bubbles/v2/key"

// browserKeys are the key browser's bindings.
type browserKeys struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
	Expand, Collapse, Open, Back            key.Binding
	Filter, Type, Sort, Delim, Rescan, Stop key.Binding
	NoTTL, Idle, More, ListSort             key.Binding
	View, SetTTL, Persist, Delete, Copy     key.Binding

	BulkDelete, BulkExpire, BulkPersist key.Binding
}

func defaultBrowserKeys() browserKeys {
	b := func(keys []string, k, help string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, help))
	}
	return browserKeys{
		Up:       b([]string{"up", "k"}, "↑/k", "up"),
		Down:     b([]string{"down", "j"}, "↓/j", "down"),
		PageUp:   b([]string{"pgup", "ctrl+u"}, "pgup", "page up"),
		PageDown: b([]string{"pgdown", "ctrl+d"}, "pgdn", "page down"),
		Top:      b([]string{"home", "g"}, "g", "top"),
		Bottom:   b([]string{"end", "G"}, "G", "bottom"),
		Expand:   b([]string{"right", "l", "space"}, "→/space", "expand"),
		Collapse: b([]string{"left", "h"}, "←", "collapse"),
		Open:     b([]string{"enter"}, "enter", "open"),
		Back:     b([]string{"esc", "backspace"}, "esc", "back"),
		Filter:   b([]string{"/"}, "/", "match pattern"),
		Type:     b([]string{"T"}, "T", "type filter"),
		Sort:     b([]string{"m"}, "m", "sort count/memory"),
		Delim:    b([]string{":"}, ":", "delimiter"),
		Rescan:   b([]string{"R"}, "R", "rescan"),
		Stop:     b([]string{"S"}, "S", "stop/resume scan"),
		NoTTL:    b([]string{"N"}, "N", "only keys without TTL"),
		Idle:     b([]string{"I"}, "I", "idle longer than…"),
		More:     b([]string{"]"}, "]", "more"),
		ListSort: b([]string{"s"}, "s", "sort: scan/memory/idle"),
		View:     b([]string{"v"}, "v", "cycle view"),
		SetTTL:   b([]string{"t"}, "t", "set TTL"),
		Persist:  b([]string{"x"}, "x", "persist"),
		Delete:   b([]string{"d", "delete"}, "d", "delete"),
		Copy:     b([]string{"c"}, "c", "copy name"),

		BulkDelete:  b([]string{"D"}, "D", "delete by pattern"),
		BulkExpire:  b([]string{"E"}, "E", "TTL by pattern"),
		BulkPersist: b([]string{"P"}, "P", "persist by pattern"),
	}
}

// browserHelp is the help of the browser in its current mode.
type browserHelp struct {
	k        browserKeys
	mode     browserMode
	readOnly bool
	bulk     bool // the source can run bulk operations
}

// bulkKeys are the pattern operations, disabled when they cannot run.
func (h browserHelp) bulkKeys() []key.Binding {
	w := []key.Binding{h.k.BulkDelete, h.k.BulkExpire, h.k.BulkPersist}
	for i := range w {
		w[i].SetEnabled(h.bulk && !h.readOnly)
	}
	return w
}

func (h browserHelp) writes() []key.Binding {
	w := []key.Binding{h.k.SetTTL, h.k.Persist, h.k.Delete}
	if h.readOnly {
		for i := range w {
			w[i].SetEnabled(false)
		}
	}
	return w
}

func (h browserHelp) ShortHelp() []key.Binding {
	switch h.mode {
	case modeList:
		return append(append([]key.Binding{h.k.Open, h.k.Back, h.k.ListSort, h.k.NoTTL, h.k.Idle}, h.writes()...), h.k.BulkDelete)
	case modeValue:
		return append([]key.Binding{h.k.View, h.k.More, h.k.Back, h.k.Copy}, h.writes()...)
	}
	return append([]key.Binding{h.k.Expand, h.k.Open, h.k.Filter, h.k.Type, h.k.Sort, h.k.Rescan}, h.bulkKeys()[0])
}

func (h browserHelp) FullHelp() [][]key.Binding {
	nav := []key.Binding{h.k.Up, h.k.Down, h.k.PageUp, h.k.PageDown, h.k.Top, h.k.Bottom}
	switch h.mode {
	case modeList:
		return [][]key.Binding{nav, {h.k.Open, h.k.Back, h.k.ListSort, h.k.NoTTL, h.k.Idle, h.k.More, h.k.Copy}, h.writes(), h.bulkKeys()}
	case modeValue:
		return [][]key.Binding{nav, {h.k.View, h.k.More, h.k.Back, h.k.Copy}, h.writes()}
	}
	return [][]key.Binding{nav, {h.k.Expand, h.k.Collapse, h.k.Open}, {h.k.Filter, h.k.Type, h.k.Sort, h.k.Delim, h.k.Rescan, h.k.Stop}, h.bulkKeys()}
}
