package ui

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

const (
	monitorDrainEvery = 250 * time.Millisecond
	monitorDrainMax   = 20000
	monitorKeep       = 10000 // lines the stream view keeps
)

type (
	monitorStartMsg struct {
		node   string
		stream MonitorStream
		err    error
	}
	monitorTickMsg  struct{ gen int }
	monitorBatchMsg struct {
		gen   int
		lines []MonitorRow
		st    MonitorStats
		top   MonitorTop
	}
	monitorSavedMsg struct {
		path string
		n    int
		err  error
	}
)

type monitorKeys struct {
	Start, Stop, Pause, View, Filter, Save key.Binding
}

// monitorPane runs MONITOR on demand, after a warning, and shows the stream
// or what is hot.
type monitorPane struct {
	ctx   context.Context
	st    *Styles
	src   ActivitySource
	glob  func(pattern, s string) bool
	k     monitorKeys
	w, h  int
	now   func() time.Time
	limit time.Duration
	node  string // the node picked in the overview: where s starts MONITOR
	seed  string // the default node's name; "" off a cluster

	denied   string
	stream   MonitorStream
	on       string // the node the session runs on: it stays there until restarted
	gen      int
	lines    []MonitorRow // ring, newest last
	stats    MonitorStats
	top      MonitorTop
	showTop  bool
	filter   monitorFilter
	prompt   *prompt
	starting bool
}

// monitorFilter narrows the stream: cmd:GET key:user:* client:10.0.0.7 db:1.
type monitorFilter struct {
	text, cmd, key, client string
	db                     int // -1 any
}

func parseMonitorFilter(s string) (monitorFilter, error) {
	f := monitorFilter{text: s, db: -1}
	for _, tok := range strings.Fields(s) {
		k, v, ok := strings.Cut(tok, ":")
		if !ok {
			f.key = tok // a bare word is a key glob
			continue
		}
		switch k {
		case "cmd":
			f.cmd = strings.ToUpper(v)
		case "key":
			f.key = v
		case "client":
			f.client = v
		case "db":
			if _, err := fmt.Sscanf(v, "%d", &f.db); err != nil {
				return f, fmt.Errorf("db:%s is not a number", v)
			}
		default:
			f.key = tok // "user:*" is a key glob, not a field
		}
	}
	return f, nil
}

func (f monitorFilter) match(r MonitorRow, glob func(string, string) bool) bool {
	switch {
	case f.cmd != "" && r.Cmd != f.cmd:
		return false
	case f.client != "" && !strings.Contains(r.Client, f.client):
		return false
	case f.db >= 0 && r.DB != f.db:
		return false
	case f.key != "" && (r.Key == "" || !glob(f.key, r.Key)):
		return false
	}
	return true
}

func newMonitorPane(ctx context.Context, st *Styles, src ActivitySource, seed string, glob func(string, string) bool, limit time.Duration, now func() time.Time) *monitorPane {
	b := func(keys []string, k, h string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, h))
	}
	return &monitorPane{ctx: ctx, st: st, src: src, seed: seed, glob: glob, now: now, limit: limit, filter: monitorFilter{db: -1},
		k: monitorKeys{
			Start: b([]string{"s"}, "s", "start MONITOR"), Stop: b([]string{"x"}, "x", "stop"),
			Pause: b([]string{"p"}, "p", "pause/resume"), View: b([]string{"v"}, "v", "stream/top"),
			Filter: b([]string{"/"}, "/", "filter"), Save: b([]string{"w"}, "w", "save lines to a file"),
		}}
}

func (p *monitorPane) SetSize(w, h int) { p.w, p.h = w, h }
func (p *monitorPane) Capturing() bool  { return p.prompt != nil }

func (p *monitorPane) KeyMap() help.KeyMap {
	return simpleHelp{short: []key.Binding{p.k.Start, p.k.Stop, p.k.Pause, p.k.View, p.k.Filter, p.k.Save},
		full: [][]key.Binding{{p.k.Start, p.k.Stop, p.k.Pause}, {p.k.View, p.k.Filter, p.k.Save}}}
}

func (p *monitorPane) activate() tea.Cmd { return permCmd(p.ctx, p.src, "monitor") }

// setNode picks where the next session starts; one running stays on its
// node until it is stopped and started again.
func (p *monitorPane) setNode(node string) tea.Cmd {
	p.node = node
	return nil
}

// running reports whether a session is live.
func (p *monitorPane) running() bool { return p.stream != nil && !p.stats.Ended }

// Stop ends a session when redtop quits or the pane is left for good.
func (p *monitorPane) Stop() {
	if p.stream != nil {
		p.stream.Stop("redtop quit")
	}
}

func (p *monitorPane) handleData(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case permMsg:
		if msg.feature != "monitor" {
			return nil, false
		}
		if !msg.ok {
			p.denied = msg.why
		}
		return nil, true
	case monitorStartMsg:
		p.starting = false
		if msg.err != nil {
			// A refusal the source now remembers (NOPERM, MONITOR renamed)
			// comes back as a permMsg: the pane says why at once, not only
			// after it is entered again.
			return tea.Batch(status(errLevel, "MONITOR: "+msg.err.Error()), permCmd(p.ctx, p.src, "monitor")), true
		}
		p.stream, p.lines, p.stats, p.on = msg.stream, nil, MonitorStats{Started: p.now()}, msg.node
		p.gen++
		return p.tick(), true
	case monitorTickMsg:
		if msg.gen != p.gen || p.stream == nil {
			return nil, true
		}
		s, gen := p.stream, p.gen
		return func() tea.Msg {
			lines, st := s.Drain(monitorDrainMax)
			return monitorBatchMsg{gen: gen, lines: lines, st: st, top: s.Top()}
		}, true
	case monitorBatchMsg:
		if msg.gen != p.gen {
			return nil, true
		}
		p.lines = append(p.lines, msg.lines...)
		if over := len(p.lines) - monitorKeep; over > 0 {
			p.lines = append(p.lines[:0:0], p.lines[over:]...)
		}
		p.stats, p.top = msg.st, msg.top
		if msg.st.Ended {
			return status(warnLevel, fmt.Sprintf("MONITOR ended: %s, %s lines", msg.st.Reason, count(msg.st.Seen))), true
		}
		return p.tick(), true
	case monitorSavedMsg:
		if msg.err != nil {
			return status(errLevel, "saving MONITOR lines: "+msg.err.Error()), true
		}
		return status(okLevel, fmt.Sprintf("saved %s lines to %s", count(int64(msg.n)), msg.path)), true
	}
	return nil, false
}

func (p *monitorPane) tick() tea.Cmd {
	gen := p.gen
	return tea.Tick(monitorDrainEvery, func(time.Time) tea.Msg { return monitorTickMsg{gen: gen} })
}

func (p *monitorPane) Update(msg tea.Msg) tea.Cmd {
	if p.prompt != nil {
		return updatePrompt(&p.prompt, msg)
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	switch {
	case key.Matches(k, p.k.Start):
		if p.running() || p.starting {
			return nil
		}
		if p.denied != "" {
			return status(warnLevel, "MONITOR is not available: "+p.denied)
		}
		ctx, src, node := p.ctx, p.src, p.node
		body := []string{
			"MONITOR makes the server send every command to redtop: under load it costs the server about two thirds of its throughput, and it shows values.",
			fmt.Sprintf("redtop stops it after %s, or if its output buffer on the server passes 1 MB.", age(p.limit)),
		}
		if name := nodeName(node, p.seed); name != "" {
			body = append(body, "It runs on node "+name+" only: it sees that node's commands.")
		}
		p.prompt = newConfirm("Start MONITOR?", body, func() tea.Cmd {
			p.starting = true
			return func() tea.Msg {
				s, err := src.Monitor(ctx, node)
				return monitorStartMsg{node: node, stream: s, err: err}
			}
		})
	case key.Matches(k, p.k.Stop):
		if p.running() {
			p.stream.Stop("stopped by you")
		}
	case key.Matches(k, p.k.Pause):
		if p.running() {
			if p.stats.Paused {
				p.stream.Resume()
			} else {
				p.stream.Pause()
			}
			p.stats.Paused = !p.stats.Paused
		}
	case key.Matches(k, p.k.View):
		p.showTop = !p.showTop
	case key.Matches(k, p.k.Filter):
		p.prompt = newPrompt("Filter the stream", "cmd:GET key:user:* client:10.0.0.7 db:1", p.filter.text, func(v string) (tea.Cmd, string) {
			f, err := parseMonitorFilter(v)
			if err != nil {
				return nil, err.Error()
			}
			p.filter = f
			return nil, ""
		})
	case key.Matches(k, p.k.Save):
		lines := append([]MonitorRow(nil), p.lines...)
		path := fmt.Sprintf("redtop-monitor-%s.txt", p.now().Format("20060102-150405"))
		return func() tea.Msg { return saveMonitor(path, lines) }
	}
	return nil
}

// saveMonitor writes lines as MONITOR prints them (arguments escaped).
func saveMonitor(path string, lines []MonitorRow) tea.Msg {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s [%d %s] %s %s\n", l.Time.Format("2006-01-02T15:04:05.000000"), l.DB, l.Client, l.Cmd, l.Args)
	}
	err := os.WriteFile(path, []byte(b.String()), 0o600)
	return monitorSavedMsg{path: path, n: len(lines), err: err}
}

func (p *monitorPane) View() string {
	st := p.st
	s := p.stats
	var title string
	switch {
	case p.stream == nil:
		title = "MONITOR · not running"
	case s.Ended:
		title = fmt.Sprintf("MONITOR ended: %s · %s lines", s.Reason, count(s.Seen))
	case s.Paused:
		title = fmt.Sprintf("MONITOR ‖ paused · %s lines seen", count(s.Seen))
	default:
		title = fmt.Sprintf("MONITOR ● running %s · %s lines", age(p.now().Sub(s.Started)), count(s.Seen))
	}
	if s.Dropped > 0 {
		title += fmt.Sprintf(" · dropped %s", count(s.Dropped))
	}
	if p.stream != nil {
		if name := nodeName(p.on, p.seed); name != "" {
			title += " · on " + name
		}
	} else if name := nodeName(p.node, p.seed); name != "" {
		title += " · " + name
	}
	var lines []string
	if p.running() && p.on != p.node {
		lines = append(lines, " "+st.Warn.Render("! ")+fmt.Sprintf("running on %s, not on %s: x stops it, s starts it there",
			nodeName(p.on, p.seed), nodeName(p.node, p.seed)))
	}
	switch {
	case p.denied != "":
		lines = append(lines, " "+st.Warn.Render("! ")+"MONITOR is not available: "+p.denied)
	case p.stream == nil:
		lines = append(lines,
			" MONITOR shows every command the server runs, live, and what is hot.",
			" It is expensive on a busy server and shows values: it starts only when you ask.",
			"", " "+st.Title.Render("s")+" start")
	case p.showTop:
		lines = append(lines, p.topView()...)
	default:
		lines = append(lines, p.streamView()...)
	}
	for len(lines) < p.h-3 {
		lines = append(lines, "")
	}
	foot := "v stream/top · / filter"
	if p.filter.text != "" {
		foot += " (" + p.filter.text + ")"
	}
	if s.Ended {
		foot += " · s starts again"
	}
	lines = append(lines[:p.h-3], " "+st.Muted.Render(foot))
	out := frame(*st, title, lines, p.w, p.h)
	if p.prompt != nil {
		out = overlay(out, p.prompt.view(st, min(p.w, max(60, p.w*3/4))), p.w)
	}
	return out
}

func (p *monitorPane) streamView() []string {
	n := p.h - 3
	var shown []MonitorRow
	for i := len(p.lines) - 1; i >= 0 && len(shown) < n; i-- {
		if p.filter.match(p.lines[i], p.glob) {
			shown = append(shown, p.lines[i])
		}
	}
	out := make([]string, 0, n)
	for i := len(shown) - 1; i >= 0; i-- {
		l := shown[i]
		out = append(out, fmt.Sprintf(" %s %s %s %s %s", l.Time.Format("15:04:05.000"), p.st.Muted.Render(fmt.Sprintf("[%d %s]", l.DB, l.Client)), p.st.Title.Render(l.Cmd), l.Args, ""))
	}
	if len(out) == 0 {
		out = append(out, p.st.Muted.Render(" no lines yet"))
	}
	return out
}

func (p *monitorPane) topView() []string {
	t := p.top
	colW := max(20, (p.w-4)/2)
	list := func(title string, rows []TopRow, n int) []string {
		out := []string{p.st.Title.Render(title)}
		for i := 0; i < n && i < len(rows); i++ {
			if rows[i].Freq >= 0 && rows[i].PerSec == 0 {
				out = append(out, fmt.Sprintf("%5d freq  %s", rows[i].Freq, rows[i].Name))
				continue
			}
			out = append(out, fmt.Sprintf("%8s/s  %s", rate(rows[i].PerSec), rows[i].Name))
		}
		for len(out) < n+1 {
			out = append(out, "")
		}
		return out
	}
	half := max(3, (p.h-6)/2)
	label := t.HotKeysLabel
	if label == "" {
		label = "MONITOR sample counts"
	}
	left := append(list(fmt.Sprintf("commands (last %s)", age(t.Window)), t.Commands, half), list("key prefixes", t.Prefixes, half)...)
	right := append(list("clients", t.Clients, half), list("hot keys ("+label+")", t.HotKeys, half)...)
	out := make([]string, 0, len(left))
	for i := range left {
		r := ""
		if i < len(right) {
			r = right[i]
		}
		out = append(out, " "+fit(left[i], colW)+" "+r)
	}
	return out
}
