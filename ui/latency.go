package ui

import (
	"context"
	"slices"
	"time"

	tea "charm.land/bubbletea/v2"
)

// pingEvery is how often redtop measures its own PING round trip.
const pingEvery = time.Second

type pingMsg struct {
	node string // where it went: a reply from a node no longer shown is dropped
	rtt  time.Duration
	at   time.Time
	err  error
}

// latencyWindow keeps redtop's PING round trips of the last span.
type latencyWindow struct {
	span    time.Duration
	at      []time.Time
	rtt     []time.Duration
	lastErr string

	// Computed by add, not by each frame that draws them.
	last, p50, p99 time.Duration
	us             []float64 // rtt in µs, for the chart
}

func newLatencyWindow(span time.Duration) latencyWindow { return latencyWindow{span: span} }

func (l *latencyWindow) add(at time.Time, rtt time.Duration) {
	l.at = append(l.at, at)
	l.rtt = append(l.rtt, rtt)
	cut := 0
	for cut < len(l.at) && at.Sub(l.at[cut]) > l.span {
		cut++
	}
	if cut > 0 {
		l.at, l.rtt = append(l.at[:0], l.at[cut:]...), append(l.rtt[:0], l.rtt[cut:]...)
	}
	l.last, l.p50, l.p99, _, _ = l.stats()
	l.us = l.us[:0]
	for _, d := range l.rtt {
		l.us = append(l.us, float64(d.Microseconds()))
	}
}

// stats are the last, median, 99th percentile and worst round trips.
func (l *latencyWindow) stats() (last, p50, p99, worst time.Duration, n int) {
	n = len(l.rtt)
	if n == 0 {
		return
	}
	s := slices.Clone(l.rtt)
	slices.Sort(s)
	q := func(f float64) time.Duration { return s[min(n-1, int(f*float64(n)))] }
	return l.rtt[n-1], q(0.5), q(0.99), s[n-1], n
}

func (m *Model) pingCmd() tea.Cmd {
	if m.cfg.Activity == nil {
		return nil
	}
	ctx, src, now, node := m.ctx, m.cfg.Activity, m.now, m.node
	return func() tea.Msg {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		rtt, err := src.Ping(pctx, node)
		return pingMsg{node: node, rtt: rtt, at: now(), err: err}
	}
}

// handlePing records a round trip and arms the next one: one loop, started
// by Init, never two. The loop follows the node shown: a reply from the
// node shown before is not recorded, but still arms the next PING.
func (m *Model) handlePing(msg pingMsg) tea.Cmd {
	switch {
	case msg.node != m.node:
	case msg.err != nil:
		m.latency.lastErr = msg.err.Error()
	default:
		m.latency.lastErr = ""
		m.latency.add(msg.at, msg.rtt)
	}
	m.overview.latency = &m.latency
	return tea.Tick(pingEvery, func(time.Time) tea.Msg { return pingTickMsg{} })
}

type pingTickMsg struct{}
