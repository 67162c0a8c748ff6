package ui

import "charm.land/bubbles/v2/key"

// KeyMap is every key binding redtop has. Dispatch uses key.Matches only.
type KeyMap struct {
	Help   key.Binding
	Quit   key.Binding
	Pause  key.Binding
	Reset  key.Binding
	Faster key.Binding
	Slower key.Binding
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
	}
}

// overviewHelp adapts the keymap to bubbles/help for the overview pane.
type overviewHelp struct{ k KeyMap }

// intervalHelp stands for + and - together in the short help.
var intervalHelp = key.NewBinding(key.WithKeys("+", "-"), key.WithHelp("+/-", "interval"))

func (h overviewHelp) ShortHelp() []key.Binding {
	help := h.k.Help
	help.SetHelp("?", "help")
	return []key.Binding{h.k.Pause, h.k.Reset, intervalHelp, help, h.k.Quit}
}

func (h overviewHelp) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{h.k.Pause, h.k.Reset},
		{h.k.Faster, h.k.Slower},
		{h.k.Help, h.k.Quit},
	}
}
