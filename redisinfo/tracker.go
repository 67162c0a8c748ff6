package redisinfo

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// Tracker turns successive polls of a set of nodes into rates over sliding
// windows. It is not safe for concurrent use: the UI owns one and feeds it
// from Update; the batch mode owns another.
type Tracker struct {
	capacity int
	ticks    []tick // oldest first, at most capacity
	nodes    map[string]*nodeState

	epoch        time.Time // windows never reach back before this
	resetReason  string    // why the current epoch started, "" for the first
	pendingReset bool      // the next tick is the first of a new epoch
	lastAt       time.Time
	cluster      *ClusterInfo  // the latest CLUSTER INFO, when watching a cluster
	events       []Event       // the latest maxEvents, oldest first
	sentinel     *SentinelInfo // the latest Sentinel view, when watching through Sentinel
	order        []string      // nodes in the order of the last poll round
	allNodes     bool          // every node counts in the sums, replica or not
}

// maxEvents is how many events a Snapshot carries.
const maxEvents = 50

type nodeState struct {
	ok     bool // it answered at least once: the fields below hold data
	at     time.Time
	runID  string
	c      counters
	own    Own
	carry  carry
	info   Info
	last   counters      // the node's own last delta, for the nodes table
	lastDt time.Duration // and its span; 0 before the second sample
	view   *ClusterNode  // the cluster's view of it, off a cluster nil
	err    error         // why the last poll failed; nil when it answered
}

type tick struct {
	at    time.Time
	dt    time.Duration
	d     counters
	reset bool
}

// NewTracker keeps history ticks (at least 60) for windows and sparklines.
func NewTracker(history int) *Tracker {
	if history < 60 {
		history = 60
	}
	return &Tracker{capacity: history, nodes: map[string]*nodeState{}}
}

// NewNodeTracker is a Tracker for one node's own figures: the node counts
// whatever its role, where a cluster's Tracker leaves replicas out.
func NewNodeTracker(history int) *Tracker {
	t := NewTracker(history)
	t.allNodes = true
	return t
}

// counts reports whether a node's figures go into the sums. A replica of a
// Redis Cluster holds copies of its master's keys and replays its writes
// (they count in its commands): a cluster is summed over its masters. A
// standalone server counts whatever its role.
func (t *Tracker) counts(in Info) bool {
	return t.allNodes || !IsCluster(in) || InfoRole(in) != "replica"
}

// ResetWindows starts new windows from the latest sample: rates from here
// on, e.g. when a load test starts.
func (t *Tracker) ResetWindows(reason string) {
	t.newEpoch(t.lastAt, reason)
}

func (t *Tracker) newEpoch(at time.Time, reason string) {
	t.epoch = at
	t.resetReason = reason
	t.pendingReset = true
}

// Add ingests one poll round (one sample per node) and returns the new
// snapshot. Failed samples keep their node's previous figures.
func (t *Tracker) Add(samples []NodeSample) Snapshot {
	t.Feed(samples)
	return t.Snapshot()
}

// Snapshot is the figures as of the latest round.
func (t *Tracker) Snapshot() Snapshot { return t.snapshot(t.lastAt) }

// Feed ingests one poll round like Add, without building a snapshot: for
// trackers read only now and then (one per node of a cluster).
func (t *Tracker) Feed(samples []NodeSample) {
	var (
		at      time.Time
		resetOn []string
		polled  = make(map[string]bool, len(samples))
		deltas  []spanned // the summed nodes' deltas, over their own spans
	)
	if len(samples) > 0 {
		t.order = t.order[:0]
	}
	for _, s := range samples {
		polled[s.Node] = true
		t.order = append(t.order, s.Node)
		t.events = append(t.events, s.Events...)
		if s.Sentinel != nil {
			t.sentinel = s.Sentinel
		}
		prev := t.nodes[s.Node]
		if s.Err != nil {
			if prev == nil {
				prev = &nodeState{}
				t.nodes[s.Node] = prev
			}
			prev.err = s.Err
			if s.ClusterNode != nil {
				prev.view = s.ClusterNode
			}
			continue
		}
		if s.At.After(at) {
			at = s.At
		}
		if s.Cluster != nil {
			t.cluster = s.Cluster
		}
		cur := countersOf(s)
		runID := s.Info.Str("run_id")
		ns := &nodeState{ok: true, at: s.At, runID: runID, c: cur, own: s.Own, info: s.Info, view: s.ClusterNode}
		t.nodes[s.Node] = ns
		if prev == nil || !prev.ok {
			continue
		}
		// A node out of the sums (a cluster's replica) restarting does not
		// restart the windows.
		counted := t.counts(s.Info)
		d, forward := cur.sub(prev.c)
		switch {
		case prev.runID != "" && runID != "" && prev.runID != runID:
			if counted {
				resetOn = append(resetOn, s.Node+" restarted")
			}
			continue
		case !forward:
			if counted {
				resetOn = append(resetOn, s.Node+" counters went back (CONFIG RESETSTAT?)")
			}
			continue
		}
		carry := prev.carry
		d.subtractOwn(diffOwn(s.Own, prev.own), &carry)
		ns.carry = carry
		ns.last, ns.lastDt = d, s.At.Sub(prev.at)
		if counted {
			deltas = append(deltas, spanned{d, ns.lastDt})
		}
	}
	if n := len(t.events); n > maxEvents {
		t.events = append([]Event(nil), t.events[n-maxEvents:]...)
	}
	if len(samples) > 0 {
		// Nodes no longer watched (they left the cluster, or Sentinel
		// switched the master) drop out of the sums and the nodes table.
		for a := range t.nodes {
			if !polled[a] {
				delete(t.nodes, a)
			}
		}
	}
	if at.IsZero() { // every node failed: nothing new
		return
	}
	if len(resetOn) > 0 {
		t.newEpoch(at, joinReasons(resetOn))
	} else if len(deltas) > 0 && !t.lastAt.IsZero() {
		dt, sum := sumSpanned(deltas)
		t.push(tick{at: at, dt: dt, d: sum, reset: t.pendingReset})
		t.pendingReset = false
	}
	if t.epoch.IsZero() {
		t.epoch = at
	}
	t.lastAt = at
}

// spanned is one node's delta and the time it covers.
type spanned struct {
	d    counters
	span time.Duration
}

// sumSpanned adds up the nodes' deltas of one round over a common span:
// the median of their own spans. A node whose span differs (its reply came
// late last round, or it missed rounds) is scaled to that span, so the sum
// is the sum of the nodes' rates. Taking the newest reply's time since the
// previous round's newest instead would turn one late reply into a few
// milliseconds over which every other node's whole interval of commands
// shows as millions per second.
func sumSpanned(ds []spanned) (time.Duration, counters) {
	spans := make([]time.Duration, len(ds))
	for i, x := range ds {
		spans[i] = x.span
	}
	slices.Sort(spans)
	dt := spans[len(spans)/2]
	var sum counters
	for _, x := range ds {
		if x.span > 0 && dt > 0 && (x.span > dt+dt/10 || x.span < dt-dt/10) {
			sum.add(x.d.scaled(float64(dt) / float64(x.span)))
		} else {
			sum.add(x.d)
		}
	}
	return dt, sum
}

func joinReasons(r []string) string {
	if len(r) == 1 {
		return r[0]
	}
	return fmt.Sprintf("%s and %d more", r[0], len(r)-1)
}

func (t *Tracker) push(k tick) {
	if len(t.ticks) == t.capacity {
		copy(t.ticks, t.ticks[1:])
		t.ticks = t.ticks[:len(t.ticks)-1]
	}
	t.ticks = append(t.ticks, k)
}

// Rates are per-second figures over a window.
type Rates struct {
	Span     time.Duration // time actually covered; shorter than asked while filling
	Lookups  int64         // hits + misses in the window
	HitRate  float64       // hits / lookups; NaN when Lookups == 0
	Hits     float64
	Misses   float64
	Ops      float64
	Evicted  float64
	Expired  float64
	Rejected float64
	NetIn    float64 // bytes/s
	NetOut   float64 // bytes/s
	CPU      float64 // percent of one core
	Commands []CommandRate
}

// HasLookups reports whether the hit rate means anything.
func (r Rates) HasLookups() bool { return r.Lookups > 0 }

// CommandRate is one command's share of a window.
type CommandRate struct {
	Name        string
	PerSec      float64
	UsecPerCall float64
}

// window sums the newest ticks covering up to w, never before the epoch.
func (t *Tracker) window(w time.Duration) Rates {
	var (
		sum  counters
		span time.Duration
	)
	for i := len(t.ticks) - 1; i >= 0; i-- {
		k := t.ticks[i]
		if k.at.Add(-k.dt).Before(t.epoch) {
			break
		}
		if span > 0 && span+k.dt > w+k.dt/2 {
			break
		}
		sum.add(k.d)
		span += k.dt
	}
	return ratesOf(sum, span)
}

func ratesOf(c counters, span time.Duration) Rates {
	r := Rates{Span: span, HitRate: math.NaN()}
	if span <= 0 {
		return r
	}
	sec := span.Seconds()
	per := func(v int64) float64 { return float64(v) / sec }
	r.Lookups = c.hits + c.misses
	if r.Lookups > 0 {
		r.HitRate = float64(c.hits) / float64(r.Lookups)
	}
	r.Hits, r.Misses, r.Ops = per(c.hits), per(c.misses), per(c.ops)
	r.Evicted, r.Expired, r.Rejected = per(c.evicted), per(c.expired), per(c.rejected)
	r.NetIn, r.NetOut = per(c.netIn), per(c.netOut)
	r.CPU = c.cpu / sec * 100
	for name, st := range c.cmds {
		cr := CommandRate{Name: name, PerSec: per(st.Calls)}
		if st.Calls > 0 {
			cr.UsecPerCall = float64(st.Usec) / float64(st.Calls)
		}
		r.Commands = append(r.Commands, cr)
	}
	sort.Slice(r.Commands, func(i, j int) bool {
		if r.Commands[i].PerSec != r.Commands[j].PerSec {
			return r.Commands[i].PerSec > r.Commands[j].PerSec
		}
		return r.Commands[i].Name < r.Commands[j].Name
	})
	return r
}

// Point is one tick of history for the sparklines.
type Point struct {
	At      time.Time
	HitRate float64 // NaN when the tick had no lookups
	Ops     float64
	Reset   bool // first tick after a new window started
}

func (t *Tracker) history() []Point {
	pts := make([]Point, 0, len(t.ticks))
	for _, k := range t.ticks {
		r := ratesOf(k.d, k.dt)
		pts = append(pts, Point{At: k.at, HitRate: r.HitRate, Ops: r.Ops, Reset: k.reset})
	}
	return pts
}
