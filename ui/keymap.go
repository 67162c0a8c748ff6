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
		Help:   key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:   key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Pause:  key.NewBinding(key.WithKeys("p", "space"), key.WithHelp("p", "pause")),
		Reset:  key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "restart windows")),
		Faster: key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+/-", "interval")),
		Slower: key.NewBinding(key.WithKeys("-", "_"), key.WithHelp("-", "slower")),
	}
}

// overviewHelp adapts the keymap to bubbles/help for the overview pane.
type overviewHelp struct{ k KeyMap }

func (h overviewHelp) ShortHelp() []key.Binding {
	return []key.Binding{h.k.Pause, h.k.Reset, h.k.Faster, h.k.Help, h.k.Quit}
}

func (h overviewHelp) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{h.k.Pause, h.k.Reset},
		{h.k.Faster, h.k.Slower},
		{h.k.Help, h.k.Quit},
	}
}
