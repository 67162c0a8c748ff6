package ui

import (
	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
)

// KeyMap is every key binding redtop has. Dispatch uses key.Matches only.
type KeyMap struct {
	Help   key.Binding
	Quit   key.Binding
	Pause  key.Binding
	Reset  key.Binding
	Faster key.Binding
	Slower key.Binding

	NextPane key.Binding
	PrevPane key.Binding
	PaneN    key.Binding

	// The overview's nodes table, on a cluster: pick a node to see its
	// own overview; the clients, slow log, latency and MONITOR panes
	// follow it.
	PickNode    key.Binding
	NodeUp      key.Binding
	NodeDown    key.Binding
	OpenNode    key.Binding
	ClusterView key.Binding
}

// DefaultKeyMap returns the bindings documented in the README.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Help:   key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "toggle help")),
		Quit:   key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Pause:  key.NewBinding(key.WithKeys("p", "space"), key.WithHelp("p", "pause")),
		Reset:  key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "restart windows")),
		Faster: key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+", "poll faster")),
		Slower: key.NewBinding(key.WithKeys("-", "_"), key.WithHelp("-", "poll slower")),

		NextPane: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next pane")),
		PrevPane: key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous pane")),
		PaneN:    key.NewBinding(key.WithKeys("1", "2", "3", "4", "5"), key.WithHelp("1-5", "overview, keys, clients, slowlog, monitor")),

		PickNode:    key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "pick a node")),
		NodeUp:      key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "previous node")),
		NodeDown:    key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "next node")),
		OpenNode:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "show that node")),
		ClusterView: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cluster-wide view")),
	}
}

// overviewHelp adapts the keymap to bubbles/help for the overview pane.
// The node keys show only on a cluster, the moves while picking, esc while
// a node is picked or shown.
type overviewHelp struct {
	k                         KeyMap
	cluster, picking, showing bool
}

// intervalHelp stands for + and - together in the short help.
var intervalHelp = key.NewBinding(key.WithKeys("+", "-"), key.WithHelp("+/-", "interval"))

func (h overviewHelp) ShortHelp() []key.Binding {
	switch {
	case h.picking:
		return []key.Binding{h.k.NodeDown, h.k.NodeUp, h.k.OpenNode, h.k.ClusterView}
	case h.showing:
		return []key.Binding{h.k.PickNode, h.k.ClusterView, h.k.Pause, intervalHelp}
	case h.cluster:
		return []key.Binding{h.k.PickNode, h.k.Pause, h.k.Reset, intervalHelp}
	}
	return []key.Binding{h.k.Pause, h.k.Reset, intervalHelp}
}

func (h overviewHelp) FullHelp() [][]key.Binding {
	out := [][]key.Binding{
		{h.k.Pause, h.k.Reset},
		{h.k.Faster, h.k.Slower},
	}
	if h.cluster {
		out = append(out, []key.Binding{h.k.PickNode, h.k.NodeDown, h.k.NodeUp}, []key.Binding{h.k.OpenNode, h.k.ClusterView})
	}
	return out
}

// globalHelp is what the root adds to every pane's help.
type globalHelp struct {
	pane     help.KeyMap
	k        KeyMap
	browsing bool // the keys pane exists
}

func (g globalHelp) ShortHelp() []key.Binding {
	h := g.k.Help
	h.SetHelp("?", "help")
	out := g.pane.ShortHelp()
	if g.browsing {
		out = append(out, g.k.NextPane)
	}
	return append(out, h, g.k.Quit)
}

func (g globalHelp) FullHelp() [][]key.Binding {
	global := []key.Binding{g.k.Help, g.k.Quit}
	if g.browsing {
		global = append([]key.Binding{g.k.NextPane, g.k.PrevPane, g.k.PaneN}, global...)
	}
	return append(g.pane.FullHelp(), global)
}
