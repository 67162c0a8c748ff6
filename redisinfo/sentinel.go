package redisinfo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
)

// SentinelInfo is a Sentinel's view of the watched master and its
// replicas (SENTINEL MASTER and SENTINEL REPLICAS), with each replica's
// lag as the master's INFO reports it.
type SentinelInfo struct {
	At       time.Time // when a sentinel last answered
	Name     string    // the master's name at the sentinels
	Sentinel string    // the sentinel that answered
	// Err: no sentinel answered the last poll. The rest is then the view
	// as of At.
	Err error

	Master        string   // host:port
	Flags         []string // master, s_down, o_down, disconnected, failover_in_progress…
	FailoverState string   // while failover_in_progress: wait_start, select_slave, wait_promotion, reconf_slaves
	ConfigEpoch   int64    // grows with each failover
	Quorum        int64
	Sentinels     int64 // sentinels that watch the master: the one asked and num-other-sentinels
	NumReplicas   int64 // num-slaves
	DownAfter     time.Duration
	Replicas      []SentinelReplica // in address order
	// Known are the sentinels redtop asks, in the order it asks them:
	// those given, then those the sentinels named (SENTINEL SENTINELS).
	Known []string
}

// SentinelReplica is one replica as the sentinel sees it.
type SentinelReplica struct {
	Addr     string
	Flags    []string // slave, s_down, disconnected, promoted…
	LinkOK   bool     // master-link-status ok, as the replica last told the sentinel
	Priority int64    // replica-priority: 0 is never promoted
	// From the master's INFO replication, when the replica is connected
	// to the master polled: State is "" otherwise.
	State     string        // online, wait_bgsave, send_bulk
	Lag       time.Duration // since the replica's last ack
	OffsetLag int64         // bytes behind master_repl_offset
}

// HasFlag reports whether the master has flag f.
func (s *SentinelInfo) HasFlag(f string) bool { return slices.Contains(s.Flags, f) }

// Down reports whether the sentinel sees the master down (s_down: it
// thinks so; o_down: quorum sentinels agree).
func (s *SentinelInfo) Down() bool { return s.HasFlag("s_down") || s.HasFlag("o_down") }

// FailingOver reports a failover in progress.
func (s *SentinelInfo) FailingOver() bool { return s.HasFlag("failover_in_progress") }

// Level grades the sentinel's view: crit when the master is down or no
// sentinel answers, warn during a failover or when a replica is down or
// cut off from the master.
func (s *SentinelInfo) Level() Level {
	if l := s.MasterLevel(); l != OK {
		return l
	}
	for _, r := range s.Replicas {
		if r.Level() != OK {
			return Warn
		}
	}
	return OK
}

// MasterLevel grades the master alone, as Status words it: crit when it
// is down or no sentinel answers, warn during a failover or when the
// sentinel lost it. Replicas are graded on their own (SentinelReplica.Level).
func (s *SentinelInfo) MasterLevel() Level {
	switch {
	case s.Err != nil, s.Down():
		return Crit
	case s.FailingOver(), s.HasFlag("disconnected"):
		return Warn
	}
	return OK
}

// Status is the master's state in a few words, for the overview:
// "ok", "failing over (wait_promotion)", "down (o_down)", "down for this
// sentinel (s_down)", "disconnected", or "no sentinel answers".
func (s *SentinelInfo) Status() string {
	switch {
	case s.Err != nil:
		return "no sentinel answers"
	case s.HasFlag("o_down"):
		return "down (o_down)"
	case s.HasFlag("s_down"):
		return "down for this sentinel (s_down)"
	case s.FailingOver():
		return "failing over (" + s.FailoverState + ")"
	case s.HasFlag("disconnected"):
		return "disconnected"
	}
	return "ok"
}

// Down reports whether the sentinel sees the replica down.
func (r SentinelReplica) Down() bool {
	return slices.Contains(r.Flags, "s_down") || slices.Contains(r.Flags, "o_down") || slices.Contains(r.Flags, "disconnected")
}

// Level is warn for a replica down or not in sync with the master. The
// master's INFO of the same poll (State) is fresher than the sentinel's
// word on the link, which it reads from the replica every 10 s.
func (r SentinelReplica) Level() Level {
	if r.Down() || r.Status() != "ok" && r.Status() != "online" {
		return Warn
	}
	return OK
}

// Status is the replica's state in a word: down or disconnected (the
// sentinel's flags), else the master's word (online, wait_bgsave,
// send_bulk), else "link down" or "ok" from the sentinel.
func (r SentinelReplica) Status() string {
	switch {
	case slices.Contains(r.Flags, "s_down") || slices.Contains(r.Flags, "o_down"):
		return "down"
	case slices.Contains(r.Flags, "disconnected"):
		return "disconnected"
	case r.State != "":
		return r.State
	case !r.LinkOK:
		return "link down"
	}
	return "ok"
}

// ParseSentinelMaster reads SENTINEL MASTER's fields (see conn.Pairs).
// Replicas are not in it: see ParseSentinelReplicas.
func ParseSentinelMaster(f map[string]string) SentinelInfo {
	n := func(k string) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	s := SentinelInfo{
		Name:        f["name"],
		Flags:       splitFlags(f["flags"]),
		ConfigEpoch: n("config-epoch"),
		Quorum:      n("quorum"),
		Sentinels:   n("num-other-sentinels") + 1,
		NumReplicas: n("num-slaves"),
		DownAfter:   time.Duration(n("down-after-milliseconds")) * time.Millisecond,
	}
	if f["ip"] != "" {
		s.Master = net.JoinHostPort(f["ip"], f["port"])
	}
	if s.FailingOver() {
		s.FailoverState = f["failover-state"]
	}
	return s
}

// ParseSentinelReplicas reads SENTINEL REPLICAS, one field map per
// replica, and returns them in address order.
func ParseSentinelReplicas(list []map[string]string) []SentinelReplica {
	out := make([]SentinelReplica, 0, len(list))
	for _, f := range list {
		pr, _ := strconv.ParseInt(f["slave-priority"], 10, 64)
		r := SentinelReplica{Addr: f["name"], Flags: splitFlags(f["flags"]), LinkOK: f["master-link-status"] == "ok", Priority: pr}
		if f["ip"] != "" {
			r.Addr = net.JoinHostPort(f["ip"], f["port"])
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b SentinelReplica) int { return strings.Compare(a.Addr, b.Addr) })
	return out
}

func splitFlags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// addReplication fills in each replica's state and lag from the master's
// INFO (slaveN lines), taken in the same poll.
func (s *SentinelInfo) addReplication(in Info) {
	offset := in.Int("master_repl_offset")
	byAddr := map[string]map[string]string{}
	for i := int64(0); i < in.Int("connected_slaves"); i++ {
		sub := in.Sub("slave" + strconv.FormatInt(i, 10))
		byAddr[net.JoinHostPort(sub["ip"], sub["port"])] = sub
	}
	for i := range s.Replicas {
		r := &s.Replicas[i]
		sub, ok := byAddr[r.Addr]
		if !ok {
			continue
		}
		lag, _ := strconv.ParseInt(sub["lag"], 10, 64)
		off, _ := strconv.ParseInt(sub["offset"], 10, 64)
		r.State, r.Lag, r.OffsetLag = sub["state"], time.Duration(lag)*time.Second, max(0, offset-off)
	}
}

// SentinelWatcher asks Sentinel, once per poll, for its view of the
// master, and notices when the master moves. It asks the sentinels in
// turn, the last one that answered first.
//
// It polls rather than subscribing to +switch-master: the poll is needed
// anyway for the view (flags, quorum, replicas), Sentinel changes the
// address SENTINEL MASTER gives at the moment it publishes
// +switch-master, so a poll sees the switch at most one interval later
// (a forced failover itself takes about 1.2 s, measured), and a
// subscription would need one more connection per sentinel, its own
// goroutine and reconnects, and would still miss a switch that happened
// while it was down.
type SentinelWatcher struct {
	now func() time.Time

	mu       sync.Mutex
	target   conn.Target // the master's, Addr the one polled
	order    []string    // sentinels to ask, the last that answered first
	known    []string    // the sentinels given, then those discovered
	peersAt  time.Time   // when SENTINEL SENTINELS was last asked
	noPeers  bool        // SENTINEL SENTINELS was refused: not asked again
	clients  map[string]*redis.Client
	epoch    int64 // the highest config-epoch seen
	last     *SentinelInfo
	down     Level // the master's state, for events on a change
	lost     bool  // no sentinel answered the previous poll
	onSwitch []func(conn.Target, *redis.Client)
}

// NewSentinelWatcher watches t.Sentinel's master, now at t.Addr
// (conn.LocateMaster).
func NewSentinelWatcher(t conn.Target) *SentinelWatcher {
	return &SentinelWatcher{now: time.Now, target: t, order: slices.Clone(t.Sentinel.Addrs), known: slices.Clone(t.Sentinel.Addrs),
		clients: map[string]*redis.Client{}}
}

// peersEvery is how often the watcher asks for the other sentinels
// watching the master (SENTINEL SENTINELS), so that a poll still finds
// one when those given stop answering.
const peersEvery = 30 * time.Second

// OnSwitch adds f to what runs when the master moves, with the new
// master's target and the client the poller will use for it (shared: do
// not close it), before the old master's client is closed. f runs on the
// polling goroutine, in the order added.
func (w *SentinelWatcher) OnSwitch(f func(conn.Target, *redis.Client)) {
	w.mu.Lock()
	w.onSwitch = append(w.onSwitch, f)
	w.mu.Unlock()
}

// Target is the master's target as of the last switch.
func (w *SentinelWatcher) Target() conn.Target {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.target
}

// WatchSentinel makes each poll also ask Sentinel for its view (in
// parallel with INFO), carried by the first sample, and move the poller to
// the new master after a failover. Call it before polling starts.
func (p *Poller) WatchSentinel(w *SentinelWatcher) { p.sentinel = w }

// SentinelWatcher is the watcher given to WatchSentinel, or nil.
func (p *Poller) SentinelWatcher() *SentinelWatcher { return p.sentinel }

// Fetch asks the sentinels for the master and its replicas. It returns
// the view and what changed since the last fetch: events, and the new
// master's address when it moved ("" otherwise).
func (w *SentinelWatcher) Fetch(ctx context.Context) (*SentinelInfo, []Event, string) {
	w.mu.Lock()
	order, t := slices.Clone(w.order), w.target
	peers := !w.noPeers && (w.peersAt.IsZero() || w.now().Sub(w.peersAt) >= peersEvery)
	w.mu.Unlock()
	name, current := t.Sentinel.Master, t.Addr

	var errs []string
	for _, addr := range order {
		if ctx.Err() != nil {
			break
		}
		si, err := w.ask(ctx, addr, name, peers)
		switch {
		case errors.Is(err, conn.ErrUnknownMaster):
			errs = append(errs, fmt.Sprintf("sentinel %s no longer monitors %q", addr, name))
			continue
		case err != nil:
			errs = append(errs, conn.ExplainSentinel(err, t, addr).Error())
			continue
		}
		si.At, si.Sentinel = w.now(), addr
		return w.update(si, current)
	}
	if len(errs) == 0 {
		errs = append(errs, fmt.Sprint(context.Cause(ctx)))
	}
	return w.failed(fmt.Errorf("no sentinel answered for %s: %s", name, strings.Join(errs, "; ")))
}

// ask asks the sentinel at addr for the master and its replicas, and with
// peers for the other sentinels too, all in one round trip.
func (w *SentinelWatcher) ask(ctx context.Context, addr, name string, peers bool) (*SentinelInfo, error) {
	c := w.client(addr)
	cmds, _ := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "sentinel", "master", name)
		p.Do(ctx, "sentinel", "replicas", name)
		if peers {
			p.Do(ctx, "sentinel", "sentinels", name)
		}
		return nil
	})
	for _, cmd := range cmds[:2] {
		if err := cmd.Err(); err != nil {
			if strings.Contains(err.Error(), "No such master") {
				return nil, conn.ErrUnknownMaster
			}
			return nil, err
		}
	}
	si := ParseSentinelMaster(conn.Pairs(cmds[0].(*redis.Cmd).Val()))
	si.Replicas = ParseSentinelReplicas(pairsList(cmds[1].(*redis.Cmd)))
	if peers {
		w.addPeers(cmds[2].(*redis.Cmd))
	}
	return &si, nil
}

// pairsList reads a reply that lists field maps (SENTINEL REPLICAS,
// SENTINEL SENTINELS).
func pairsList(cmd *redis.Cmd) []map[string]string {
	list, _ := cmd.Slice()
	out := make([]map[string]string, 0, len(list))
	for _, r := range list {
		out = append(out, conn.Pairs(r))
	}
	return out
}

// addPeers takes in SENTINEL SENTINELS' reply: each sentinel not known
// yet is asked after the others, from the next poll on. One that a
// sentinel sees as down is skipped. A refusal (an ACL without
// sentinel|sentinels) stops the asking.
func (w *SentinelWatcher) addPeers(cmd *redis.Cmd) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.peersAt = w.now()
	if err := cmd.Err(); err != nil {
		w.noPeers = !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
		return
	}
	for _, f := range pairsList(cmd) {
		if f["ip"] == "" || f["port"] == "" || slices.ContainsFunc(splitFlags(f["flags"]), func(fl string) bool { return fl == "s_down" || fl == "o_down" }) {
			continue
		}
		a := net.JoinHostPort(f["ip"], f["port"])
		if !slices.Contains(w.known, a) {
			w.known = append(w.known, a)
			w.order = append(w.order, a)
		}
	}
}

// update records a good answer and says what changed.
func (w *SentinelWatcher) update(si *SentinelInfo, current string) (*SentinelInfo, []Event, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// The sentinel that answered goes first next time.
	if i := slices.Index(w.order, si.Sentinel); i > 0 {
		w.order = slices.Insert(slices.Delete(w.order, i, i+1), 0, si.Sentinel)
	}
	var events []Event
	at := si.At
	if w.lost {
		w.lost = false
		events = append(events, Event{At: at, Level: OK, Text: fmt.Sprintf("sentinel %s answers again for %s", si.Sentinel, si.Name)})
	}
	var moved string
	// A sentinel cut off from the others may still name an older master:
	// follow only a view at least as recent as the newest seen.
	if si.ConfigEpoch >= w.epoch {
		w.epoch = si.ConfigEpoch
		if si.Master != "" && si.Master != current {
			moved = si.Master
		}
	}
	level := OK
	switch {
	case si.HasFlag("o_down"):
		level = Crit
	case si.HasFlag("s_down"):
		level = Warn
	}
	if level != w.down {
		switch {
		case level == Crit:
			events = append(events, Event{At: at, Level: Crit, Text: fmt.Sprintf("%s is down: the sentinels agree (o_down, sentinel %s)", si.Name, si.Sentinel)})
		case level == Warn:
			events = append(events, Event{At: at, Level: Warn, Text: fmt.Sprintf("%s is down for sentinel %s (s_down)", si.Name, si.Sentinel)})
		case moved == "": // after a failover, the event below says it all
			events = append(events, Event{At: at, Level: OK, Text: fmt.Sprintf("%s is up again for sentinel %s", si.Name, si.Sentinel)})
		}
		w.down = level
	}
	if moved != "" {
		events = append(events, Event{At: at, Level: Warn,
			Text: fmt.Sprintf("%s failed over: %s → %s (sentinel %s)", si.Name, current, si.Master, si.Sentinel)})
	}
	si.Known = slices.Clone(w.known)
	w.last = si
	return si, events, moved
}

// failed returns the last good view marked with err.
func (w *SentinelWatcher) failed(err error) (*SentinelInfo, []Event, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	si := &SentinelInfo{Name: w.target.Sentinel.Master}
	if w.last != nil {
		c := *w.last
		si = &c
	}
	si.Err = err
	var events []Event
	if !w.lost {
		w.lost = true
		events = append(events, Event{At: w.now(), Level: Warn, Text: err.Error()})
	}
	return si, events, ""
}

// follow moves the poller to the master at addr: a new client built like
// the old one, the OnSwitch hook, then the node swap, which closes the
// old master's client.
func (p *Poller) follow(w *SentinelWatcher, addr string) {
	w.mu.Lock()
	w.target = w.target.WithAddr(addr)
	t, hooks := w.target, slices.Clone(w.onSwitch)
	w.mu.Unlock()
	c := redis.NewClient(t.Options())
	for _, h := range hooks {
		h(t, c)
	}
	p.SetNodes([]Node{{Addr: addr, Client: c}})
}

// sentinelFetch is one poll's answer from the sentinels.
type sentinelFetch struct {
	info   *SentinelInfo
	events []Event
	moved  string
}

// fetchSentinel runs alongside the poll's INFO calls, within the same
// timeout.
func (p *Poller) fetchSentinel(ctx context.Context) sentinelFetch {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var f sentinelFetch
	f.info, f.events, f.moved = p.sentinel.Fetch(ctx)
	return f
}

// sentinelSample puts the sentinel's view on the first sample of a poll,
// with the replicas' lag from that sample's INFO when it is the master's,
// and follows a switch. The poll's INFO calls are over by then, so closing
// the old master's client interrupts none.
func (p *Poller) sentinelSample(s *NodeSample, f sentinelFetch) {
	si := f.info
	if si == nil {
		return
	}
	if s.Err == nil && s.Node == si.Master && si.Err == nil {
		si.addReplication(s.Info)
	}
	s.Sentinel = si
	s.Events = append(s.Events, f.events...)
	if f.moved != "" {
		p.follow(p.sentinel, f.moved)
	}
}

func (w *SentinelWatcher) client(addr string) *redis.Client {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.clients[addr]
	if c == nil {
		c = redis.NewClient(w.target.SentinelOptions(addr))
		w.clients[addr] = c
	}
	return c
}

// Close closes the connections to the sentinels.
func (w *SentinelWatcher) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	for a, c := range w.clients {
		errs = append(errs, c.Close())
		delete(w.clients, a)
	}
	return errors.Join(errs...)
}

// SentinelReport is the sentinel part of a Report (--once --json).
type SentinelReport struct {
	Name          string                  `json:"name"`
	Sentinel      string                  `json:"sentinel"`
	Master        string                  `json:"master"`
	Flags         []string                `json:"flags"`
	FailoverState string                  `json:"failover_state,omitempty"`
	ConfigEpoch   int64                   `json:"config_epoch"`
	Quorum        int64                   `json:"quorum"`
	Sentinels     int64                   `json:"sentinels"`
	Known         []string                `json:"known_sentinels"` // asked in this order: those given, then those discovered
	Replicas      []SentinelReplicaReport `json:"replicas"`
	Error         string                  `json:"error,omitempty"`
}

// SentinelReplicaReport is one replica in a SentinelReport.
type SentinelReplicaReport struct {
	Addr       string   `json:"addr"`
	Status     string   `json:"status"` // down, disconnected, online, wait_bgsave, send_bulk, link down, ok
	Flags      []string `json:"flags"`
	LinkOK     bool     `json:"master_link_ok"`
	Priority   int64    `json:"priority"`
	LagSeconds *int64   `json:"lag_seconds,omitempty"`
	OffsetLag  *int64   `json:"offset_lag_bytes,omitempty"`
}

// report is s for a Report; nil without Sentinel.
func (s *SentinelInfo) report() *SentinelReport {
	if s == nil {
		return nil
	}
	r := &SentinelReport{Name: s.Name, Sentinel: s.Sentinel, Master: s.Master, Flags: s.Flags, FailoverState: s.FailoverState,
		ConfigEpoch: s.ConfigEpoch, Quorum: s.Quorum, Sentinels: s.Sentinels, Known: s.Known, Replicas: []SentinelReplicaReport{}}
	if r.Known == nil {
		r.Known = []string{}
	}
	if r.Flags == nil {
		r.Flags = []string{}
	}
	if s.Err != nil {
		r.Error = s.Err.Error()
	}
	for _, x := range s.Replicas {
		rr := SentinelReplicaReport{Addr: x.Addr, Status: x.Status(), Flags: x.Flags, LinkOK: x.LinkOK, Priority: x.Priority}
		if x.State != "" {
			lag, off := int64(x.Lag.Seconds()), x.OffsetLag
			rr.LagSeconds, rr.OffsetLag = &lag, &off
		}
		r.Replicas = append(r.Replicas, rr)
	}
	return r
}

// String is the report's one line for people:
// "mymaster at 127.0.0.1:6380 (master), quorum 1 of 1 sentinel(s), replicas: 127.0.0.1:6381 ok lag 0s".
func (r *SentinelReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s at %s (%s", r.Name, r.Master, strings.Join(r.Flags, ","))
	if r.FailoverState != "" {
		fmt.Fprintf(&b, ", failover %s", r.FailoverState)
	}
	fmt.Fprintf(&b, "), quorum %d of %d sentinel(s), via %s", r.Quorum, r.Sentinels, r.Sentinel)
	if len(r.Replicas) == 0 {
		b.WriteString(", no replicas")
	} else {
		b.WriteString(", replicas:")
	}
	for _, x := range r.Replicas {
		fmt.Fprintf(&b, " %s %s", x.Addr, x.Status)
		if x.LagSeconds != nil {
			fmt.Fprintf(&b, " lag %ds", *x.LagSeconds)
		}
	}
	if r.Error != "" {
		b.WriteString("; " + r.Error)
	}
	return b.String()
}
