package ui

import (
	"context"
	"fmt"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// slowlogRefresh is how often the slow log is read while the pane shows.
const slowlogRefresh = 5 * time.Second

type (
	slowlogMsg struct {
		gen  int
		data SlowlogData
		err  error
	}
	slowlogTickMsg struct{ gen int }
	resetMsg       struct {
		result string
		err    error
	}
	latencyEventsMsg struct {
		gen  int
		data LatencyData
		err  error
	}
)

type slowlogKeys struct {
	navKeys
	Reset, Refresh key.Binding
}

// slowlogPane shows SLOWLOG GET and LATENCY LATEST.
type slowlogPane struct {
	ctx      context.Context
	st       *Styles
	src      ActivitySource
	readOnly bool
	k        slowlogKeys
	w, h     int
	now      func() time.Time
	node     string // the node shown; "" for the default one
	seed     string // the default node's name in the header; "" off a cluster

	gen     int
	active  bool
	denied  string
	data    SlowlogData
	latency LatencyData
	err     string
	seenID  int64 // highest id seen when the pane was last left
	maxID   int64
	sel     int
	tbl     table
	prompt  *prompt
}

func newSlowlogPane(ctx context.Context, st *Styles, src ActivitySource, seed string, readOnly bool, now func() time.Time) *slowlogPane {
	b := func(keys []string, k, h string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, h))
	}
	p := &slowlogPane{ctx: ctx, st: st, src: src, seed: seed, readOnly: readOnly, now: now, seenID: -1,
		k: slowlogKeys{
			navKeys: defaultNavKeys(),
			Reset:   b([]string{"X"}, "X", "SLOWLOG RESET"), Refresh: b([]string{"R"}, "R", "refresh"),
		},
		tbl: table{cols: []column{
			{title: "", width: 3}, {title: "when", width: 9}, {title: "duration", width: 9, right: true},
			{title: "command"}, {title: "client", width: 21},
		}},
	}
	if readOnly {
		p.k.Reset.SetEnabled(false)
	}
	return p
}

func (p *slowlogPane) SetSize(w, h int) { p.w, p.h = w, h }
func (p *slowlogPane) Capturing() bool  { return p.prompt != nil }

func (p *slowlogPane) KeyMap() help.KeyMap {
	return simpleHelp{short: []key.Binding{p.k.Refresh, p.k.Reset},
		full: [][]key.Binding{{p.k.Up, p.k.Down, p.k.PageUp, p.k.PageDown}, {p.k.Refresh, p.k.Reset}}}
}

func (p *slowlogPane) activate() tea.Cmd {
	p.active = true
	p.gen++
	return tea.Batch(permCmd(p.ctx, p.src, "slowlog"), permCmd(p.ctx, p.src, "slowlog-reset"), p.fetch(), p.fetchLatency())
}

func (p *slowlogPane) fetchLatency() tea.Cmd {
	ctx, src, gen, node := p.ctx, p.src, p.gen, p.node
	return func() tea.Msg {
		d, err := src.LatencyEvents(ctx, node)
		return latencyEventsMsg{gen: gen, data: d, err: err}
	}
}

// setNode shows another node's slow log: entries ids are per node, so
// what counts as new starts again.
func (p *slowlogPane) setNode(node string) tea.Cmd {
	if node == p.node {
		return nil
	}
	p.node, p.data, p.latency, p.err, p.sel = node, SlowlogData{}, LatencyData{}, "", 0
	p.seenID, p.maxID = -1, 0
	p.gen++
	if !p.active {
		return nil
	}
	return tea.Batch(p.fetch(), p.fetchLatency())
}

// deactivate stops the refresh; what was shown counts as seen.
func (p *slowlogPane) deactivate() {
	p.active = false
	p.gen++
	p.seenID = p.maxID
}

func (p *slowlogPane) fetch() tea.Cmd {
	if p.denied != "" {
		return nil
	}
	ctx, src, gen, node := p.ctx, p.src, p.gen, p.node
	return func() tea.Msg {
		d, err := src.Slowlog(ctx, node)
		return slowlogMsg{gen: gen, data: d, err: err}
	}
}

func (p *slowlogPane) handleData(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case permMsg:
		switch msg.feature {
		case "slowlog":
			if !msg.ok {
				p.denied = msg.why
			}
		case "slowlog-reset":
			if !msg.ok {
				p.k.Reset.SetEnabled(false)
			}
		default:
			return nil, false
		}
		return nil, true
	case slowlogMsg:
		if msg.gen != p.gen {
			return nil, true
		}
		if msg.err != nil {
			p.err = msg.err.Error()
		} else {
			p.data, p.err = msg.data, ""
			for _, e := range msg.data.Entries {
				p.maxID = max(p.maxID, e.ID)
			}
			if p.seenID < 0 { // the first read: nothing is new yet
				p.seenID = p.maxID
			}
		}
		gen := p.gen
		return tea.Tick(slowlogRefresh, func(time.Time) tea.Msg { return slowlogTickMsg{gen: gen} }), true
	case slowlogTickMsg:
		if msg.gen == p.gen && p.active {
			return p.fetch(), true
		}
		return nil, true
	case latencyEventsMsg:
		if msg.err == nil && msg.gen == p.gen {
			p.latency = msg.data
		}
		return nil, true
	case resetMsg:
		if msg.err != nil {
			return status(errLevel, "SLOWLOG RESET: "+msg.err.Error()), true
		}
		p.seenID, p.maxID = -1, 0
		return tea.Batch(status(okLevel, "slow log: "+msg.result), p.fetch()), true
	}
	return nil, false
}

func (p *slowlogPane) Update(msg tea.Msg) tea.Cmd {
	if p.prompt != nil {
		return updatePrompt(&p.prompt, msg)
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	n := len(p.data.Entries)
	if sel, ok := p.k.move(k, p.sel, n, max(1, p.h-6)); ok {
		p.sel = sel
		return nil
	}
	switch {
	case key.Matches(k, p.k.Refresh):
		return p.fetch()
	case key.Matches(k, p.k.Reset):
		if p.readOnly {
			return status(warnLevel, "read-only: SLOWLOG RESET is disabled")
		}
		ctx, src, node := p.ctx, p.src, p.node
		body := []string{fmt.Sprintf("SLOWLOG RESET drops all %d entries, for every client", n)}
		if name := nodeName(node, p.seed); name != "" {
			body = append(body, "on node "+name+" (each node has its own slow log)")
		}
		p.prompt = newConfirm("Reset the slow log", body, func() tea.Cmd {
			return func() tea.Msg {
				res, err := src.ResetSlowlog(ctx, node)
				return resetMsg{result: res, err: err}
			}
		})
	}
	return nil
}

func (p *slowlogPane) View() string {
	st := p.st
	var lines []string
	// The lines above the table wrap: in 80 columns the hint to turn the
	// latency monitor on is longer than the pane.
	say := func(s string) {
		for _, l := range wrapLines(s, p.w-4) {
			lines = append(lines, " "+l)
		}
	}
	title := "Slow log"
	if name := nodeName(p.node, p.seed); name != "" {
		title += " · " + name
	}
	switch {
	case p.denied != "":
		say(st.Warn.Render("! ") + "SLOWLOG is not available: " + p.denied)
	case p.err != "":
		say(st.Crit.Render("✖ ") + p.err)
	}
	d := p.data
	if d.ConfigErr != "" {
		say(st.Muted.Render("settings unknown: " + d.ConfigErr))
	} else if d.MaxLen > 0 || d.SlowerThan > 0 {
		say(st.Muted.Render(fmt.Sprintf("logs commands slower than %s (slowlog-log-slower-than), keeps %d (slowlog-max-len)", usec(float64(d.SlowerThan.Microseconds())), d.MaxLen)))
	}
	say(p.latencyLine())
	newCount := 0
	cells := make([][]string, len(d.Entries))
	for i, e := range d.Entries {
		mark := ""
		if e.ID > p.seenID && p.seenID >= 0 {
			mark = "●"
			newCount++
		}
		client := e.Client
		if e.Name != "" {
			client += " " + e.Name
		}
		cells[i] = []string{mark, age(p.now().Sub(e.Time)), usec(float64(e.Duration.Microseconds())), e.Command, client}
	}
	if p.denied == "" {
		title += fmt.Sprintf(" · %d entries", len(d.Entries))
		if newCount > 0 {
			title += fmt.Sprintf(" · %d new ●", newCount)
		}
		if p.sel >= len(cells) {
			p.sel = max(0, len(cells)-1)
		}
		lines = append(lines, p.tbl.render(st, p.w-3, p.h-3-len(lines)-1, p.sel, len(cells), func(i int) []string { return cells[i] }, -1, false)...)
		if len(cells) == 0 {
			lines = append(lines, " "+st.Muted.Render("empty"))
		}
	}
	for len(lines) < p.h-3 {
		lines = append(lines, "")
	}
	foot := "● new since you last looked · when = how long ago"
	if p.readOnly {
		foot += " · read-only: no reset"
	}
	lines = append(lines[:p.h-3], " "+st.Muted.Render(foot))
	out := frame(*st, title, lines, p.w, p.h)
	if p.prompt != nil {
		out = overlay(out, p.prompt.view(st, min(p.w, max(50, p.w*3/4))), p.w)
	}
	return out
}

// latencyLine is LATENCY LATEST in one line, or how to enable it.
func (p *slowlogPane) latencyLine() string {
	l := p.latency
	switch {
	case !l.Enabled && l.Hint != "":
		return p.st.Muted.Render("latency monitor: " + l.Hint)
	case !l.Enabled:
		return p.st.Muted.Render("latency monitor: unknown")
	case len(l.Events) == 0:
		return "latency monitor on: no events"
	}
	s := "latency events:"
	for _, e := range l.Events {
		s += fmt.Sprintf(" %s %s (max %s, %s ago);", e.Name, rtt(e.Latest), rtt(e.Max), age(p.now().Sub(e.Time)))
	}
	return s
}
