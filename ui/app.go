// Package ui is redtop's Bubble Tea side: the root model, its panes, key
// bindings and styles. It talks to Redis only through the small interfaces
// it is given, inside tea.Cmds.
package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"redtop/redisinfo"
)

// Config wires the UI to its data.
type Config struct {
	Source   InfoSource
	Target   string // shown in the top bar and window title; never a password
	DB       int
	Interval time.Duration
	History  int                // ticks kept for windows and charts
	Explain  func(error) string // turns poll errors into one line; optional
	Now      func() time.Time   // clock, for tests; optional
	Keys     KeySource          // the key browser's access to Redis; nil hides the keys pane
	// Delimiter splits key names into the browser's tree (default ":").
	Delimiter string
	// KeyPrefix is django-redis's "prefix:version:": typed patterns are
	// relative to it.
	KeyPrefix string
	// Activity feeds the clients, slow log and MONITOR panes and the PING
	// latency line; nil hides them.
	Activity ActivitySource
	// Glob matches Redis patterns (keys.Match), for the MONITOR filter.
	Glob func(pattern, s string) bool
	// MonitorLimit stops MONITOR after this long (default 1 minute).
	MonitorLimit time.Duration
	// ReadOnly disables CLIENT KILL and SLOWLOG RESET.
	ReadOnly bool
	// Seed, on a cluster, is the node the clients, slow log, latency and
	// MONITOR panes show until another is picked in the overview; they
	// name it in their headers. "" for a single server.
	Seed string
}

// pane is what every pane offers the root.
type pane interface {
	Update(tea.Msg) tea.Cmd
	View() string     // exactly the size given to SetSize
	SetSize(w, h int) // the body: the terminal less the top and bottom lines
	KeyMap() help.KeyMap
	Capturing() bool // an input is open: every key goes to the pane
}

// focus is the index of the focused pane in Model.order.
type focus int

// named is a pane with its tab name.
type named struct {
	name string
	pane pane
}

// Optional pane behaviours.
type (
	activator   interface{ activate() tea.Cmd } // gained focus
	deactivator interface{ deactivate() }       // lost focus
	dataHandler interface {                     // owns some data messages
		handleData(tea.Msg) (tea.Cmd, bool)
	}
	nodeFollower interface{ setNode(addr string) tea.Cmd } // shows the node picked in the overview
)

// Model is the root model: it routes keys, owns the poll loop and the
// connection state, and lays the panes out.
type Model struct {
	ctx     context.Context
	cfg     Config
	now     func() time.Time
	keys    KeyMap
	styles  *Styles
	help    help.Model
	tracker *redisinfo.Tracker
	pinging bool // the PING loop runs (it starts after the first poll)
	// On a cluster, one tracker per node besides the cluster's, fed from
	// the same samples: a node picked in the overview shows its own rates
	// over the same windows at once.
	nodeTrackers map[string]*redisinfo.Tracker
	nodeRTT      map[string]time.Duration // each node's last INFO round trip
	node         string                   // the node picked; "" for the cluster-wide view
	overview     *overview
	browser      *browser // nil without a key source
	clients      *clientsPane
	slowlog      *slowlogPane
	monitor      *monitorPane
	order        []named // the panes, in tab order; the overview first
	focus        focus
	latency      latencyWindow

	width, height int
	lay           layout
	interval      time.Duration
	gen           int  // poll loop generation; ticks of older loops are dropped
	inflight      bool // a poll is running: never start a second one
	paused        bool
	clockOn       bool // the 1 s redraw tick is armed
	showHelp      bool
	conn          connState
	status        statusLine
}

// New builds the root model. ctx is cancelled when the program ends and
// bounds every Redis call the UI starts.
func New(ctx context.Context, cfg Config) *Model {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Explain == nil {
		cfg.Explain = func(err error) string { return err.Error() }
	}
	if cfg.History == 0 {
		cfg.History = 600
	}
	st := NewStyles(true)
	m := &Model{
		ctx:      ctx,
		cfg:      cfg,
		now:      cfg.Now,
		keys:     DefaultKeyMap(),
		styles:   &st,
		help:     help.New(),
		tracker:  redisinfo.NewTracker(cfg.History),
		interval: cfg.Interval,
	}
	m.help.Styles = st.Help
	m.overview = newOverview(m.styles, m.keys, cfg.DB, cfg.Interval, cfg.Now)
	m.order = []named{{"overview", m.overview}}
	if cfg.Keys != nil {
		m.browser = newBrowser(ctx, m.styles, m.keys, cfg.Keys, cfg.DB, cfg.Now)
		m.browser.Configure(cfg.Delimiter, cfg.KeyPrefix)
		m.order = append(m.order, named{"keys", m.browser})
	}
	if a := cfg.Activity; a != nil {
		glob := cfg.Glob
		if glob == nil {
			glob = func(p, s string) bool { return p == s }
		}
		limit := cfg.MonitorLimit
		if limit <= 0 {
			limit = time.Minute
		}
		m.clients = newClientsPane(ctx, m.styles, a, cfg.Seed, cfg.ReadOnly, cfg.Now)
		m.slowlog = newSlowlogPane(ctx, m.styles, a, cfg.Seed, cfg.ReadOnly, cfg.Now)
		m.monitor = newMonitorPane(ctx, m.styles, a, cfg.Seed, glob, limit, cfg.Now)
		m.order = append(m.order, named{"clients", m.clients}, named{"slowlog", m.slowlog}, named{"monitor", m.monitor})
	}
	m.latency = newLatencyWindow(time.Minute)
	return m
}

// Init starts the first poll at once: the first frame with data should not
// wait an interval.
func (m *Model) Init() tea.Cmd {
	m.inflight = true
	return tea.Batch(pollCmd(m.ctx, m.cfg.Source, m.gen), tea.RequestBackgroundColor)
}

// Update routes messages: global keys, then the focused pane; data goes to
// the pane that owns it.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
	case tea.BackgroundColorMsg:
		*m.styles = NewStyles(msg.IsDark())
		m.help.Styles = m.styles.Help
	case tea.KeyPressMsg:
		return m, m.handleKey(msg)
	case polledMsg:
		cmd := m.handlePolled(msg)
		if !m.pinging {
			// The PING loop starts once the first INFO is in: a PING the
			// server ran after that INFO but booked before it would show
			// as the server's own command in the first interval.
			m.pinging = true
			cmd = tea.Batch(cmd, m.pingCmd())
		}
		return m, cmd
	case nodePickedMsg:
		return m, m.showNode(msg.addr)
	case tickMsg:
		return m, m.handleTick(msg)
	case clockMsg:
		return m, m.handleClock(msg)
	case clearStatusMsg:
		if msg.seq == m.status.seq {
			m.status.text = ""
		}
	case statusMsg:
		ttl := 6 * time.Second
		if msg.level >= warnLevel {
			ttl = 12 * time.Second
		}
		return m, m.setStatus(msg.level, msg.text, ttl)
	case pingMsg:
		return m, m.handlePing(msg)
	case pingTickMsg:
		return m, m.pingCmd()
	default:
		// Data results go to the pane that owns them, focused or not.
		for _, n := range m.order {
			if h, ok := n.pane.(dataHandler); ok {
				if cmd, ok := h.handleData(msg); ok {
					return m, cmd
				}
			}
		}
		return m, m.focused().Update(msg)
	}
	return m, nil
}

// Snapshot is the overview's latest data (for tests and the batch mode).
func (m *Model) Snapshot() redisinfo.Snapshot { return m.overview.snap }

func (m *Model) focused() pane { return m.order[m.focus].pane }

func (m *Model) helpKeys() globalHelp {
	return globalHelp{pane: m.focused().KeyMap(), k: m.keys, browsing: len(m.order) > 1}
}

func (m *Model) panes() []pane {
	out := make([]pane, len(m.order))
	for i, n := range m.order {
		out[i] = n.pane
	}
	return out
}

// resize lays the screen out again; the full help, when open, takes its
// lines from the panes rather than covering them.
func (m *Model) resize(w, h int) {
	m.width, m.height = w, h
	m.lay = computeLayout(w, h)
	m.help.SetWidth(w)
	body := h - 2
	if m.showHelp && !m.lay.tooSmall {
		if ph := h - m.helpHeight(); !computeLayout(w, ph).tooSmall {
			body = ph - 2
		} // else no room: the help covers the bottom
	}
	for _, p := range m.panes() {
		p.SetSize(w, max(0, body))
	}
}

func (m *Model) helpHeight() int {
	return 1 + strings.Count(m.help.FullHelpView(m.helpKeys().FullHelp()), "\n") + 1
}

// handleKey routes a key: ctrl+c always quits; an open input takes
// everything else; then the global keys; then the focused pane.
func (m *Model) handleKey(msg tea.KeyPressMsg) tea.Cmd {
	if msg.String() == "ctrl+c" {
		if t, ok := m.focused().(interface{ takesCtrlC() bool }); !ok || !t.takesCtrlC() {
			return m.quit()
		}
	}
	if p := m.focused(); p.Capturing() {
		return p.Update(msg)
	}
	switch {
	case key.Matches(msg, m.keys.Quit):
		return m.quit()
	case key.Matches(msg, m.keys.Help):
		m.showHelp = !m.showHelp
		m.help.ShowAll = m.showHelp
		m.resize(m.width, m.height)
		return nil
	case key.Matches(msg, m.keys.NextPane):
		return m.setFocus((m.focus + 1) % focus(len(m.order)))
	case key.Matches(msg, m.keys.PrevPane):
		return m.setFocus((m.focus + focus(len(m.order)) - 1) % focus(len(m.order)))
	case key.Matches(msg, m.keys.PaneN):
		if n := int(msg.Text[0] - '1'); n >= 0 && n < len(m.order) {
			return m.setFocus(focus(n))
		}
		return nil
	}
	if m.focus != 0 {
		return m.focused().Update(msg)
	}
	switch {
	case key.Matches(msg, m.keys.Pause):
		return m.togglePause()
	case key.Matches(msg, m.keys.Reset):
		m.tracker.ResetWindows("restarted by you")
		for _, tr := range m.nodeTrackers {
			tr.ResetWindows("restarted by you")
		}
		return m.setStatus(okLevel, "windows restarted: rates from now on", 4*time.Second)
	case key.Matches(msg, m.keys.Faster):
		return m.setInterval(-1)
	case key.Matches(msg, m.keys.Slower):
		return m.setInterval(+1)
	default:
		return m.focused().Update(msg)
	}
}

func (m *Model) setFocus(f focus) tea.Cmd {
	if f == m.focus {
		return nil
	}
	if d, ok := m.focused().(deactivator); ok {
		d.deactivate()
	}
	m.focus = f
	m.resize(m.width, m.height) // help height differs per pane
	if a, ok := m.focused().(activator); ok {
		return a.activate()
	}
	return nil
}

// quit ends what must not outlive redtop (a MONITOR session), then quits.
func (m *Model) quit() tea.Cmd {
	if m.monitor != nil {
		m.monitor.Stop()
	}
	return tea.Quit
}

var intervals = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second}

func (m *Model) setInterval(dir int) tea.Cmd {
	i := 0
	for i < len(intervals)-1 && intervals[i] < m.interval {
		i++
	}
	i = max(0, min(len(intervals)-1, i+dir))
	m.interval = intervals[i]
	m.overview.interval = m.interval
	m.gen++
	cmds := []tea.Cmd{m.setStatus(infoLevel, "polling every "+age(m.interval), 3*time.Second)}
	if !m.inflight && !m.paused {
		cmds = append(cmds, tickCmd(m.interval, m.gen))
	}
	return tea.Batch(cmds...)
}

func (m *Model) togglePause() tea.Cmd {
	m.paused = !m.paused
	m.gen++
	if m.paused {
		m.overview.stale = "paused"
		return tea.Batch(m.setStatus(warnLevel, "paused: press p to resume", 3*time.Second), m.armClock())
	}
	m.overview.stale = ""
	if m.inflight {
		return nil
	}
	m.inflight = true
	return pollCmd(m.ctx, m.cfg.Source, m.gen)
}

func (m *Model) handleTick(msg tickMsg) tea.Cmd {
	if msg.gen != m.gen || m.paused || m.inflight {
		return nil
	}
	m.inflight = true
	return pollCmd(m.ctx, m.cfg.Source, m.gen)
}

func (m *Model) handlePolled(msg polledMsg) tea.Cmd {
	m.inflight = false
	if m.paused {
		return nil // frozen: the resume starts a fresh poll
	}
	now := m.now()
	var failed []redisinfo.NodeSample
	var worst time.Duration
	for _, s := range msg.samples {
		if s.Err != nil {
			failed = append(failed, s)
		} else {
			worst = max(worst, s.RTT)
		}
	}
	snap := m.tracker.Add(msg.samples)
	m.feedNodes(msg.samples)
	c := &m.conn
	c.nodes, c.failing = len(msg.samples), 0
	var cmds []tea.Cmd
	if len(failed) == len(msg.samples) && len(failed) > 0 {
		if !c.down() {
			c.downSince = now
		}
		c.failures++
		c.lastErr = m.cfg.Explain(failed[0].Err)
		c.nextTry = now.Add(backoff(c.failures, m.interval))
		if c.everOK {
			m.overview.stale = "stale"
		}
		m.status = statusLine{text: c.lastErr, level: errLevel, seq: m.status.seq + 1}
		cmds = append(cmds, tickCmd(backoff(c.failures, m.interval), m.gen), m.armClock())
		return tea.Batch(cmds...)
	}
	var news []string
	lvl := okLevel
	if c.down() && c.everOK {
		news = append(news, fmt.Sprintf("reconnected after %s", age(now.Sub(c.downSince))))
	} else if c.down() {
		m.status.text = ""
	}
	if snap.ResetReason != "" && !snap.Epoch.Equal(m.overview.snap.Epoch) && m.overview.snap.Ready() && snap.ResetReason != "restarted by you" {
		news = append(news, "windows start again: "+snap.ResetReason)
		lvl = warnLevel
	}
	if text, l, ok := eventNews(msg.samples); ok {
		news = append([]string{text}, news...)
		lvl = max(lvl, l)
	}
	if len(news) > 0 {
		ttl := 10 * time.Second
		if lvl == errLevel {
			ttl = 15 * time.Second
		}
		cmds = append(cmds, m.setStatus(lvl, strings.Join(news, "; "), ttl))
	}
	c.failing = len(failed)
	c.everOK, c.lastOK, c.downSince, c.failures = true, now, time.Time{}, 0
	m.overview.stale = ""
	m.overview.setSnapshot(snap, worst)
	if m.node != "" {
		if s, ok := m.nodeSnapshot(m.node); ok {
			m.overview.showNode(m.node, s, m.nodeRTT[m.node])
		} else {
			left := m.node
			cmds = append(cmds, m.showNode(""), m.setStatus(warnLevel, left+" is no longer polled: back to the cluster-wide view", 10*time.Second))
		}
	}
	cmds = append(cmds, tickCmd(max(0, m.interval-msg.took), m.gen))
	return tea.Batch(cmds...)
}

// armClock redraws once a second while nothing else does (down, paused), so
// ages and the retry countdown move.
func (m *Model) armClock() tea.Cmd {
	if m.clockOn {
		return nil
	}
	m.clockOn = true
	return clockCmd(0)
}

func (m *Model) handleClock(clockMsg) tea.Cmd {
	m.clockOn = false
	if m.paused || m.conn.down() {
		return m.armClock()
	}
	return nil
}

func (m *Model) setStatus(l level, text string, ttl time.Duration) tea.Cmd {
	m.status = statusLine{text: text, level: l, seq: m.status.seq + 1}
	return clearStatusCmd(ttl, m.status.seq)
}

// View draws the whole screen.
func (m *Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "redtop " + m.cfg.Target
	return v
}

func (m *Model) render() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	if m.lay.tooSmall {
		lines := []string{"terminal too small", fmt.Sprintf("%dx%d, need %dx%d", m.width, m.height, minWidth, minHeight)}
		for i := range lines {
			lines[i] = fit(lines[i], m.width)
		}
		return strings.Join(lines[:min(len(lines), m.height)], "\n")
	}
	body := strings.Split(m.focused().View(), "\n")
	if m.showHelp {
		full := strings.Split(m.help.FullHelpView(m.helpKeys().FullHelp()), "\n")
		full = append([]string{m.styles.Muted.Render(strings.Repeat("─", m.width))}, full...)
		for i := range full {
			full[i] = fit(full[i], m.width)
		}
		if room := m.height - 2 - len(full); room >= len(body) {
			body = append(body, full...)
		} else { // panes at their minimum: the help covers their bottom
			body = append(body[:max(0, room)], full...)
		}
	}
	return m.topBar() + "\n" + strings.Join(body, "\n") + "\n" + m.bottomLine()
}
