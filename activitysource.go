package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
	"redtop/keys"
	"redtop/redisinfo"
	"redtop/ui"
)

// activitySource adapts redisinfo's clients, slow log, latency and MONITOR
// to the panes' ui.ActivitySource. Each call names its node (ui's "" is
// the node redtop was pointed at); a node's connections open when it is
// first asked for. Permissions are probed once, on the default node (a
// cluster's nodes are expected to share their ACL rules); a refused
// command closes its gate, so the server's ACL LOG gets at most one entry
// per command per session.
type activitySource struct {
	timeout time.Duration
	ledger  *redisinfo.Ledger
	ro      bool
	limit   time.Duration // MONITOR time limit

	once sync.Once
	gate *redisinfo.Gate

	mu       sync.Mutex
	target   conn.Target           // the default node; a Sentinel failover moves it
	nodes    map[string]*nodeConns // by address; the default node under target.Addr
	monitors []nodeMonitor
}

// nodeMonitor is a MONITOR session and the node it runs on.
type nodeMonitor struct {
	addr string
	m    *redisinfo.Monitor
}

// nodeConns are the connections to one node.
type nodeConns struct {
	addr    string
	target  conn.Target   // how to dial it
	reader  *redis.Client // pooled, retries on: CLIENT LIST, SLOWLOG GET…
	ownRead bool          // reader is this source's to close (not the app's)
	writer  *redis.Client // retries off: CLIENT KILL, SLOWLOG RESET
	pingC   *redis.Client // one connection, for PING only
	pinger  *redisinfo.PingSampler
}

func newActivitySource(app *App, limit time.Duration) *activitySource {
	s := &activitySource{target: app.Target, timeout: app.Target.Timeout, ledger: app.Ledger, ro: app.Browse.readOnly, limit: limit,
		nodes: map[string]*nodeConns{}}
	// The default node reads through the app's client. Its PING connection
	// opens now: the latency line starts with the dashboard, whatever pane
	// is shown.
	s.nodes[app.Target.Addr] = s.dial(app.Target, app.Client)
	return s
}

// dial opens a node's writer and PING connections; reader is nil for a
// pooled client of its own.
func (s *activitySource) dial(t conn.Target, reader *redis.Client) *nodeConns {
	nc := &nodeConns{addr: t.Addr, target: t, reader: reader}
	if reader == nil {
		nc.reader, nc.ownRead = redis.NewClient(t.Options()), true
	}
	nc.writer = redis.NewClient(t.WriterOptions())
	nc.pingC = redis.NewClient(t.WriterOptions())
	nc.pinger = redisinfo.NewPingSampler(nc.pingC, t.Addr, s.ledger)
	return nc
}

// at returns the connections to a node ("" for the default one), opening
// them on first use. Another node of a cluster is dialled like the
// default one, by TCP, on database 0.
func (s *activitySource) at(node string) *nodeConns {
	s.mu.Lock()
	defer s.mu.Unlock()
	if node == "" {
		node = s.target.Addr
	}
	nc := s.nodes[node]
	if nc == nil {
		nc = s.dial(s.target.ForNode(node), nil)
		s.nodes[node] = nc
	}
	return nc
}

// open probes permissions once, on the default node.
func (s *activitySource) open(ctx context.Context) {
	s.once.Do(func() {
		pctx, cancel := context.WithTimeout(ctx, 2*s.timeout)
		defer cancel()
		nc := s.at("")
		s.gate = redisinfo.NewGate(redisinfo.ProbePerms(pctx, nc.reader, nc.addr, s.ledger))
	})
}

// Close stops MONITOR sessions and closes the clients.
func (s *activitySource) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, nm := range s.monitors {
		nm.m.Stop("redtop quit")
	}
	for _, nc := range s.nodes {
		nc.close()
	}
}

func (nc *nodeConns) close() {
	if nc.ownRead {
		nc.reader.Close()
	}
	nc.writer.Close()
	nc.pingC.Close()
}

// retarget moves the default node to the new master after a Sentinel
// failover: reads go through c (the app's new reading client), the old
// master's writer and PING connections close, and a MONITOR session on it
// stops with the reason. Permissions stay as probed: the same ACL user on
// the same replication group.
func (s *activitySource) retarget(t conn.Target, c *redis.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.target.Addr
	if nc := s.nodes[old]; nc != nil {
		nc.close()
		delete(s.nodes, old)
	}
	if nc := s.nodes[t.Addr]; nc != nil { // opened as another node before
		nc.close()
	}
	s.target = t
	s.nodes[t.Addr] = s.dial(t, c)
	for _, nm := range s.monitors {
		if nm.addr == old {
			nm.m.Stop(fmt.Sprintf("the master moved to %s (failover)", t.Addr))
		}
	}
}

var uiFeatures = map[string]redisinfo.Feature{
	"clients":       redisinfo.FeatureClientList,
	"kill":          redisinfo.FeatureClientKill,
	"slowlog":       redisinfo.FeatureSlowlogGet,
	"slowlog-reset": redisinfo.FeatureSlowlogReset,
	"latency":       redisinfo.FeatureLatencyLatest,
	"monitor":       redisinfo.FeatureMonitor,
}

func (s *activitySource) Allowed(ctx context.Context, feature string) (bool, string) {
	s.open(ctx)
	f, ok := uiFeatures[feature]
	if !ok {
		return true, ""
	}
	if s.gate.Allowed(f) {
		return true, ""
	}
	return false, s.gate.Explain(f)
}

// call runs one guarded call on a node with a deadline; a refusal comes
// back as the gate's one-line explanation.
func (s *activitySource) call(ctx context.Context, nc *nodeConns, f redisinfo.Feature, do func(context.Context) error) error {
	s.open(ctx)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := s.gate.Do(f, func() error { return do(ctx) })
	var fe *redisinfo.FeatureError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return errors.New(s.gate.Explain(f))
	case errors.Is(err, redisinfo.ErrOutcomeUnknown):
		return err
	}
	var re redis.Error
	if errors.As(err, &re) {
		return err
	}
	return conn.Explain(err, nc.target)
}

func (s *activitySource) Clients(ctx context.Context, node string) ([]ui.ClientRow, error) {
	nc := s.at(node)
	var cs []redisinfo.Client
	err := s.call(ctx, nc, redisinfo.FeatureClientList, func(ctx context.Context) (err error) {
		cs, err = redisinfo.FetchClients(ctx, nc.reader, nc.addr, s.ledger)
		return err
	})
	if err != nil {
		return nil, err
	}
	rows := make([]ui.ClientRow, len(cs))
	for i := range cs {
		c := &cs[i]
		rows[i] = ui.ClientRow{ID: c.ID, Name: c.Value("name"), Addr: c.Value("addr"), User: c.Value("user"),
			Cmd: c.Value("cmd"), Flags: c.Flags, Age: c.Age, Idle: c.Idle, DB: c.DB, Omem: c.OMem, TotMem: c.TotMem, Own: c.Own}
	}
	return rows, nil
}

func (s *activitySource) KillClient(ctx context.Context, node string, id int64) (string, error) {
	if s.ro {
		return "", errors.New("read-only: CLIENT KILL is disabled")
	}
	nc := s.at(node)
	var res string
	err := s.call(ctx, nc, redisinfo.FeatureClientKill, func(ctx context.Context) (err error) {
		res, err = redisinfo.KillClient(ctx, nc.writer, nc.addr, s.ledger, id)
		return err
	})
	return res, err
}

func (s *activitySource) Slowlog(ctx context.Context, node string) (ui.SlowlogData, error) {
	nc := s.at(node)
	var es []redisinfo.SlowEntry
	err := s.call(ctx, nc, redisinfo.FeatureSlowlogGet, func(ctx context.Context) (err error) {
		es, err = redisinfo.FetchSlowlog(ctx, nc.reader, nc.addr, s.ledger, 128)
		return err
	})
	if err != nil {
		return ui.SlowlogData{}, err
	}
	d := ui.SlowlogData{Entries: make([]ui.SlowEntry, len(es))}
	for i, e := range es {
		d.Entries[i] = ui.SlowEntry{ID: e.ID, Time: e.Time, Duration: e.Duration, Command: e.Command, Client: e.ClientAddr, Name: e.ClientName}
	}
	err = s.call(ctx, nc, redisinfo.FeatureConfigGet, func(ctx context.Context) (err error) {
		d.SlowerThan, d.MaxLen, err = redisinfo.SlowlogConfig(ctx, nc.reader, nc.addr, s.ledger)
		return err
	})
	if err != nil {
		d.ConfigErr = err.Error()
	}
	return d, nil
}

func (s *activitySource) ResetSlowlog(ctx context.Context, node string) (string, error) {
	if s.ro {
		return "", errors.New("read-only: SLOWLOG RESET is disabled")
	}
	nc := s.at(node)
	var res string
	err := s.call(ctx, nc, redisinfo.FeatureSlowlogReset, func(ctx context.Context) (err error) {
		res, err = redisinfo.ResetSlowlog(ctx, nc.writer, nc.addr, s.ledger)
		return err
	})
	return res, err
}

func (s *activitySource) Ping(ctx context.Context, node string) (time.Duration, error) {
	return s.at(node).pinger.Sample(ctx)
}

// LatencyEvents reads latency-monitor-threshold (CONFIG GET), then LATENCY
// LATEST. A user who may not run CONFIG GET (it is @admin) may still run
// LATENCY LATEST: its events are shown, and the threshold is unknown; with
// no events it cannot be told whether monitoring is off or nothing
// happened, so the line says both.
func (s *activitySource) LatencyEvents(ctx context.Context, node string) (ui.LatencyData, error) {
	nc := s.at(node)
	var on bool
	err := s.call(ctx, nc, redisinfo.FeatureConfigGet, func(ctx context.Context) (err error) {
		on, _, err = redisinfo.LatencyEnabled(ctx, nc.reader, nc.addr, s.ledger)
		return err
	})
	thresholdUnknown := ""
	switch {
	case err != nil && !s.gate.Allowed(redisinfo.FeatureConfigGet):
		// Refused (or CONFIG renamed): the gate keeps it from being asked again.
		thresholdUnknown = "threshold unknown: " + err.Error()
	case err != nil:
		return ui.LatencyData{Hint: "unknown (" + err.Error() + ")"}, nil
	case !on:
		return ui.LatencyData{Hint: redisinfo.LatencyOffHint}, nil
	}
	var evs []redisinfo.LatencyEvent
	err = s.call(ctx, nc, redisinfo.FeatureLatencyLatest, func(ctx context.Context) (err error) {
		evs, err = redisinfo.FetchLatencyLatest(ctx, nc.reader, nc.addr, s.ledger)
		return err
	})
	switch {
	case err != nil && thresholdUnknown != "":
		return ui.LatencyData{Hint: "unknown (" + thresholdUnknown + "; LATENCY LATEST: " + err.Error() + ")"}, nil
	case err != nil:
		return ui.LatencyData{Enabled: true, Hint: err.Error()}, nil
	case thresholdUnknown != "" && len(evs) == 0:
		// Off, or on and quiet: no way to tell without the threshold.
		return ui.LatencyData{Hint: "no events (" + thresholdUnknown + ")"}, nil
	}
	d := ui.LatencyData{Enabled: true, Hint: thresholdUnknown}
	for _, e := range evs {
		d.Events = append(d.Events, ui.LatencyEvent{Name: e.Name, Time: e.Time, Latest: e.Latest, Max: e.Max})
	}
	return d, nil
}

// monitorWindow is the span of the MONITOR top view's rates.
const monitorWindow = 5 * time.Second

// Monitor starts MONITOR on the node; the session stays there.
func (s *activitySource) Monitor(ctx context.Context, node string) (ui.MonitorStream, error) {
	s.open(ctx)
	if !s.gate.Allowed(redisinfo.FeatureMonitor) {
		return nil, errors.New(s.gate.Explain(redisinfo.FeatureMonitor))
	}
	nc := s.at(node)
	opt := redisinfo.MonitorOptions{Limit: s.limit, Client: nc.reader, Ledger: s.ledger, Node: nc.addr}
	// Over a unix socket MONITOR prints the same address for every client:
	// redtop's own lines cannot be told apart there.
	if nc.target.Network != "unix" && s.gate.Allowed(redisinfo.FeatureClientList) {
		octx, cancel := context.WithTimeout(ctx, nc.target.Timeout)
		opt.OwnAddrs, _ = redisinfo.OwnClientAddrs(octx, nc.reader, nc.addr, s.ledger, conn.ClientName)
		cancel()
	}
	m, err := redisinfo.StartMonitor(ctx, nc.target, opt)
	if err != nil {
		if why := s.gate.Fail(redisinfo.FeatureMonitor, err); why != "" {
			return nil, errors.New(why)
		}
		return nil, conn.Explain(err, nc.target)
	}
	s.mu.Lock()
	s.monitors = append(s.monitors, nodeMonitor{addr: nc.addr, m: m})
	s.mu.Unlock()
	ms := &monitorStream{m: m, top: redisinfo.NewMonitorTop(redisinfo.MonitorTopOptions{}), ctx: ctx, src: s, nc: nc}
	ms.lfu = s.lfuPolicy(ctx, nc)
	return ms, nil
}

// lfuPolicy reports whether the node evicts by LFU: then OBJECT FREQ
// ranks the hot keys better than MONITOR's sample.
func (s *activitySource) lfuPolicy(ctx context.Context, nc *nodeConns) bool {
	ctx, cancel := context.WithTimeout(ctx, nc.target.Timeout)
	defer cancel()
	text, err := nc.reader.Info(ctx, "memory").Result()
	if err != nil {
		return false
	}
	s.ledger.Call(nc.addr, "info", 1)
	return strings.Contains(redisinfo.Parse(text).Str("maxmemory_policy"), "lfu")
}

// monitorStream adapts a redisinfo.Monitor: drained lines feed the top
// aggregate; only the newest become rows for the stream view, so a flood
// costs the UI a bounded amount of escaping.
type monitorStream struct {
	m   *redisinfo.Monitor
	mu  sync.Mutex
	top *redisinfo.MonitorTop

	ctx     context.Context
	src     *activitySource
	nc      *nodeConns // the node MONITOR runs on
	lfu     bool
	freqAt  time.Time
	freqs   []ui.TopRow // hot keys by OBJECT FREQ, refreshed every few seconds
	freqErr error
}

// streamRows is how many of a drained batch become stream rows.
const streamRows = 2000

func (s *monitorStream) Drain(max int) ([]ui.MonitorRow, ui.MonitorStats) {
	lines, st := s.m.Drain(max)
	s.mu.Lock()
	s.top.Add(lines)
	s.mu.Unlock()
	if len(lines) > streamRows {
		lines = lines[len(lines)-streamRows:]
	}
	rows := make([]ui.MonitorRow, 0, len(lines))
	var b strings.Builder
	for i := range lines {
		l := &lines[i]
		b.Reset()
		for j, a := range l.Args {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(quoteArg(keys.Escape(string(a))))
		}
		if l.NArgs > len(l.Args) {
			fmt.Fprintf(&b, " … (%d more)", l.NArgs-len(l.Args))
		}
		r := ui.MonitorRow{Time: l.Time, DB: l.DB, Client: keys.Escape(l.Client), Cmd: strings.ToUpper(l.Cmd), Args: b.String()}
		if k, ok := l.Key(); ok {
			r.Key = string(k)
		}
		rows = append(rows, r)
	}
	return rows, ui.MonitorStats{Seen: st.Seen, Dropped: st.Dropped + st.Skipped, Started: st.Started,
		Ended: st.Ended, Reason: st.EndReason, Paused: st.Paused}
}

// quoteArg quotes an (already escaped) argument that is empty or holds a
// space or a quote.
func quoteArg(a string) string {
	if a == "" || strings.ContainsAny(a, " \"") {
		return `"` + strings.ReplaceAll(a, `"`, `\"`) + `"`
	}
	return a
}

func (s *monitorStream) Top() ui.MonitorTop {
	s.mu.Lock()
	v := s.top.Snapshot(time.Now(), monitorWindow)
	s.mu.Unlock()
	conv := func(l redisinfo.TopList, upper bool) []ui.TopRow {
		out := make([]ui.TopRow, len(l.Rows))
		for i, e := range l.Rows {
			name := keys.Escape(e.Name)
			if upper {
				name = strings.ToUpper(name)
			}
			out[i] = ui.TopRow{Name: name, PerSec: e.Rate, Freq: -1}
		}
		return out
	}
	t := ui.MonitorTop{Window: v.Window, Commands: conv(v.Commands, true), Prefixes: conv(v.Patterns, false),
		Clients: conv(v.Clients, false), HotKeys: conv(v.HotKeys, false), HotKeysLabel: redisinfo.HotKeysLabel}
	if s.lfu {
		if hot := s.hotByFreq(v.HotKeys); hot != nil {
			t.HotKeys, t.HotKeysLabel = hot, "OBJECT FREQ of the keys MONITOR saw most"
		}
	}
	return t
}

// hotByFreq ranks the keys MONITOR saw most by OBJECT FREQ (LFU policy),
// at most every 2 s; the lookups are booked, as the key browser's are.
func (s *monitorStream) hotByFreq(l redisinfo.TopList) []ui.TopRow {
	if time.Since(s.freqAt) < 2*time.Second {
		return s.freqs
	}
	s.freqAt = time.Now()
	names := make([]string, 0, 10)
	for i := 0; i < len(l.Rows) && i < 10; i++ {
		names = append(names, l.Rows[i].Name)
	}
	if len(names) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.nc.target.Timeout)
	defer cancel()
	infos, err := keys.InspectWith(ctx, s.nc.reader, s.nc.addr, s.src.ledger, names, keys.InspectOptions{LFU: true})
	if err != nil {
		s.freqs = nil
		return nil
	}
	rows := make([]ui.TopRow, 0, len(infos))
	for _, k := range infos {
		if k.Exists && k.Freq >= 0 {
			rows = append(rows, ui.TopRow{Name: keys.Escape(k.Key), Freq: k.Freq})
		}
	}
	slices.SortStableFunc(rows, func(a, b ui.TopRow) int { return cmp.Compare(b.Freq, a.Freq) })
	s.freqs = rows
	return rows
}

func (s *monitorStream) Pause()             { s.m.Pause() }
func (s *monitorStream) Resume()            { s.m.Resume() }
func (s *monitorStream) Stop(reason string) { s.m.Stop(reason) }
