package ui

import (
	"image/color"

	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"
	"redtop/redisinfo"
)

// Styles is built from a small palette of roles. Colour only ever repeats
// what a word or symbol already says, so NO_COLOR loses nothing.
type Styles struct {
	OK, Warn, Crit lipgloss.Style
	Muted, Accent  lipgloss.Style
	Title, Border  lipgloss.Style
	Bar, Selected  lipgloss.Style
	Spark          lipgloss.Style
	Help           help.Styles
}

// NewStyles picks colours that read on a dark or a light background.
func NewStyles(isDark bool) Styles {
	ld := lipgloss.LightDark(isDark)
	c := func(light, dark string) color.Color { return ld(lipgloss.Color(light), lipgloss.Color(dark)) }
	var (
		ok     = c("#1a7f37", "#3fb950")
		warn   = c("#9a6700", "#d29922")
		crit   = c("#cf222e", "#f85149")
		muted  = c("#6e7781", "#8b949e")
		accent = c("#0969da", "#58a6ff")
		border = c("#afb8c1", "#484f58")
	)
	return Styles{
		OK:       lipgloss.NewStyle().Foreground(ok),
		Warn:     lipgloss.NewStyle().Foreground(warn).Bold(true),
		Crit:     lipgloss.NewStyle().Foreground(crit).Bold(true),
		Muted:    lipgloss.NewStyle().Foreground(muted),
		Accent:   lipgloss.NewStyle().Foreground(accent),
		Title:    lipgloss.NewStyle().Bold(true),
		Border:   lipgloss.NewStyle().Foreground(border),
		Bar:      lipgloss.NewStyle().Bold(true),
		Selected: lipgloss.NewStyle().Foreground(accent).Bold(true),
		Spark:    lipgloss.NewStyle().Foreground(accent),
		Help:     help.DefaultStyles(isDark),
	}
}

// Level styles a severity.
func (s Styles) Level(l redisinfo.Level) lipgloss.Style {
	switch l {
	case redisinfo.Crit:
		return s.Crit
	case redisinfo.Warn:
		return s.Warn
	}
	return s.OK
}
