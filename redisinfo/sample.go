package redisinfo

import (
	"math"
	"time"
)

// NodeSample is one INFO poll of one node, with what redtop itself had sent
// to that node when the reply arrived.
type NodeSample struct {
	Node string        // address as redtop dials it
	At   time.Time     // when the reply arrived
	RTT  time.Duration // INFO round trip
	Info Info          // zero when Err != nil
	Own  Own           // redtop's own cumulative traffic (Ledger)
	Err  error
	// Cluster is CLUSTER INFO, on one node's sample when watching a cluster.
	Cluster *ClusterInfo
	// Events noted since the previous poll (on the first sample of a round).
	Events []Event
	// ClusterNode is the cluster's view of the node at the last discovery
	// (role, slots, link, flags); nil off a cluster.
	ClusterNode *ClusterNode
	// Sentinel is the sentinels' view, on the first sample of a round when
	// watching through Sentinel.
	Sentinel *SentinelInfo
}

// Event is something that happened to the watched servers rather than a
// figure: a failover, a node that joined or left, a master switched by
// Sentinel.
type Event struct {
	At    time.Time
	Level Level
	Text  string
}

// counters are the monotonic figures rates are made from, as the server
// reports them (redtop's own share is taken out of the deltas).
type counters struct {
	hits, misses, ops int64
	evicted, expired  int64
	rejected          int64
	netIn, netOut     int64
	cpu               float64 // seconds, sys+user
	cmds              map[string]CommandStat
}

func countersOf(s NodeSample) counters {
	in := s.Info
	c := counters{
		hits:     in.Int("keyspace_hits"),
		misses:   in.Int("keyspace_misses"),
		ops:      in.Int("total_commands_processed"),
		evicted:  in.Int("evicted_keys"),
		expired:  in.Int("expired_keys"),
		rejected: in.Int("rejected_connections"),
		netIn:    in.Int("total_net_input_bytes"),
		netOut:   in.Int("total_net_output_bytes"),
		cpu:      in.Float("used_cpu_sys") + in.Float("used_cpu_user"),
		cmds:     make(map[string]CommandStat, len(in.Commands)),
	}
	for name, st := range in.Commands {
		c.cmds[name] = st
	}
	return c
}

// sub returns c - p and whether every counter moved forward (or stayed).
// A counter going backwards means a restart or CONFIG RESETSTAT.
func (c counters) sub(p counters) (counters, bool) {
	d := counters{
		hits: c.hits - p.hits, misses: c.misses - p.misses, ops: c.ops - p.ops,
		evicted: c.evicted - p.evicted, expired: c.expired - p.expired,
		rejected: c.rejected - p.rejected,
		netIn:    c.netIn - p.netIn, netOut: c.netOut - p.netOut,
		cpu:  c.cpu - p.cpu,
		cmds: make(map[string]CommandStat, len(c.cmds)),
	}
	// Keyspace and command counters are the ones RESETSTAT zeroes; net and
	// cpu go back only on a restart, which run_id catches.
	ok := d.hits >= 0 && d.misses >= 0 && d.ops >= 0 && d.evicted >= 0 && d.expired >= 0
	for name, st := range c.cmds {
		ps := p.cmds[name]
		dc := CommandStat{Calls: st.Calls - ps.Calls, Usec: st.Usec - ps.Usec}
		if dc.Calls < 0 || dc.Usec < 0 {
			ok = false
		}
		if dc.Calls > 0 {
			d.cmds[name] = dc
		}
	}
	return d, ok
}

// scaled is d as if it had been counted over a share f of its span: how
// the delta of a node whose reply came late (or after missed rounds) is
// brought to the tick it is summed into.
func (c counters) scaled(f float64) counters {
	n := func(v int64) int64 { return int64(math.Round(float64(v) * f)) }
	d := counters{hits: n(c.hits), misses: n(c.misses), ops: n(c.ops), evicted: n(c.evicted), expired: n(c.expired),
		rejected: n(c.rejected), netIn: n(c.netIn), netOut: n(c.netOut), cpu: c.cpu * f,
		cmds: make(map[string]CommandStat, len(c.cmds))}
	for name, st := range c.cmds {
		d.cmds[name] = CommandStat{Calls: n(st.Calls), Usec: n(st.Usec)}
	}
	return d
}

func (c *counters) add(d counters) {
	c.hits += d.hits
	c.misses += d.misses
	c.ops += d.ops
	c.evicted += d.evicted
	c.expired += d.expired
	c.rejected += d.rejected
	c.netIn += d.netIn
	c.netOut += d.netOut
	c.cpu += d.cpu
	if c.cmds == nil {
		c.cmds = map[string]CommandStat{}
	}
	for name, st := range d.cmds {
		s := c.cmds[name]
		s.Calls += st.Calls
		s.Usec += st.Usec
		c.cmds[name] = s
	}
}

// ownDelta is what redtop sent between two samples.
type ownDelta struct {
	hits, misses, ops int64
	netIn, netOut     int64
	calls             map[string]int64
}

func diffOwn(cur, prev Own) ownDelta {
	d := ownDelta{
		hits:   cur.Hits - prev.Hits,
		misses: cur.Misses - prev.Misses,
		ops:    cur.TotalCalls() - prev.TotalCalls(),
		netIn:  cur.NetIn - prev.NetIn,
		netOut: cur.NetOut - prev.NetOut,
		calls:  make(map[string]int64, len(cur.Calls)),
	}
	for k, v := range cur.Calls {
		d.calls[k] = v - prev.Calls[k]
	}
	return d
}

// carry holds own traffic that could not yet be taken out of a delta: the
// ledger records a read when its reply arrives, which can be after the INFO
// that already counted it. The deficit is taken out of the next delta, so
// nothing is lost or counted twice over a window.
type carry struct{ hits, misses, ops, netIn, netOut int64 }

// subtractOwn removes redtop's own traffic from a server delta.
func (d *counters) subtractOwn(o ownDelta, c *carry) {
	d.hits, c.hits = clampSub(d.hits, o.hits+c.hits)
	d.misses, c.misses = clampSub(d.misses, o.misses+c.misses)
	d.ops, c.ops = clampSub(d.ops, o.ops+c.ops)
	d.netIn, c.netIn = clampSub(d.netIn, o.netIn+c.netIn)
	d.netOut, c.netOut = clampSub(d.netOut, o.netOut+c.netOut)
	for name, n := range o.calls {
		if st, ok := d.cmds[name]; ok {
			st.Calls -= n
			if st.Calls <= 0 {
				delete(d.cmds, name)
			} else {
				d.cmds[name] = st
			}
		}
	}
}

func clampSub(v, own int64) (rest, deficit int64) {
	if v >= own {
		return v - own, 0
	}
	return 0, own - v
}
