package ui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"
	"redtop/redisinfo"
)

// InfoSource is what the overview polls: redisinfo.Poller in production,
// a fake in tests.
type InfoSource interface {
	Poll(ctx context.Context) []redisinfo.NodeSample
}

// pollCmd polls every node once. It copies what it needs before the
// closure runs on another goroutine.
func pollCmd(ctx context.Context, src InfoSource, gen int) tea.Cmd {
	return func() tea.Msg {
		start := time.Now()
		s := src.Poll(ctx)
		return polledMsg{gen: gen, samples: s, took: time.Since(start)}
	}
}

func tickCmd(d time.Duration, gen int) tea.Cmd {
	return tea.Tick(d, func(time.Time) tea.Msg { return tickMsg{gen: gen} })
}

func clockCmd(gen int) tea.Cmd {
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return clockMsg{gen: gen} })
}

func clearStatusCmd(d time.Duration, seq int) tea.Cmd {
	return tea.Tick(d, func(time.Time) tea.Msg { return clearStatusMsg{seq: seq} })
}
