package redisinfo

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Windows the dashboard shows besides the last interval.
const (
	ShortWindow = 10 * time.Second
	LongWindow  = 60 * time.Second
)

// Snapshot is everything the overview shows, for one node or summed over a
// set of nodes. On a Redis Cluster the sums (keys, memory, hits, misses,
// commands, rates) are over the masters, whose replicas hold copies and
// replay their writes; connections and persistence count on every node,
// memory pressure and fragmentation are the worst node's. Nodes lists
// every node polled.
type Snapshot struct {
	At          time.Time // time of the newest sample; zero before the first
	Nodes       []NodeStatus
	Epoch       time.Time // windows start here at the earliest
	ResetReason string    // why the windows restarted; "" when they never did

	Last  Rates // the last poll interval
	Short Rates // ShortWindow
	Long  Rates // LongWindow

	LifetimeHitRate float64 // since the server's stats began; NaN without lookups
	InstantOps      int64   // instantaneous_ops_per_sec, summed

	Memory      Memory
	Clients     Clients
	Keyspace    map[int]DBStats
	Server      Server
	Persistence Persistence
	Replication Replication
	Cluster     *ClusterInfo  // nil unless watching a Redis Cluster
	Events      []Event       // recent failovers and topology changes, oldest first
	Sentinel    *SentinelInfo // nil unless watching through Sentinel

	History []Point // oldest first
}

// NodeStatus is one node's last poll.
type NodeStatus struct {
	Addr     string
	Role     string // "master" or "replica" ("" when unknown)
	LastOK   time.Time
	Keys     int64   // over every database
	Used     int64   // used_memory
	Clients  int64   // connected_clients
	Ops      float64 // per second over the node's last interval
	HitRate  float64 // over the node's last interval; NaN without lookups
	Lookups  int64
	MemLevel Level
	// Counted: the node's figures are in the snapshot's sums (a cluster's
	// replicas are not).
	Counted bool
	// From the cluster's view of the node (zero off a cluster).
	Slots int      // slots it serves
	Link  string   // "connected" or "disconnected"; "" when unknown
	Flags []string // fail, pfail, loading, handshake…
	// Err is why the last poll failed ("" when it answered); the figures
	// are then those of LastOK, or zero when it never answered.
	Err string
}

// Failing reports whether the cluster marks the node failed or suspected.
func (n NodeStatus) Failing() bool {
	return slices.Contains(n.Flags, "fail") || slices.Contains(n.Flags, "pfail")
}

// Memory gauges. Percent is of maxmemory, -1 when there is no limit.
type Memory struct {
	Used, RSS, Peak, Max int64
	Frag                 float64
	Policy               string
	Percent              float64
}

// Level grades memory pressure.
func (m Memory) Level() Level {
	switch {
	case m.Percent >= 90:
		return Crit
	case m.Percent >= 75:
		return Warn
	}
	return OK
}

// Level is a severity shown with a word as well as a colour.
type Level int

// Levels.
const (
	OK Level = iota
	Warn
	Crit
)

func (l Level) String() string {
	return [...]string{"ok", "warn", "crit"}[l]
}

// Clients gauges.
type Clients struct {
	Connected, Blocked, MaxClients int64
}

// Server identity.
type Server struct {
	Version string
	Mode    string // standalone, cluster, sentinel
	Uptime  time.Duration
	RunID   string
}

// Persistence state.
type Persistence struct {
	AOF              bool
	AOFRewriting     bool
	AOFLastWriteOK   bool
	BgsaveInProgress bool
	LastBgsaveOK     bool
	LastBgsaveTime   time.Time // zero when never
	ChangesSinceSave int64
	NeverSaved       bool // rdb_saves is 0 (Redis 7+): LastBgsaveTime is the start time
	Loading          bool
}

// Replication state.
type Replication struct {
	Role              string // master or slave (as INFO says)
	ConnectedReplicas int64
	MaxReplicaLag     int64 // seconds, over connected replicas
	MasterAddr        string
	MasterLinkUp      bool
	MasterLastIO      int64 // seconds since the last byte from the master
	MasterLinkDown    int64 // seconds the link has been down, when down
	SyncInProgress    bool
	ReplicaOffsetLag  int64 // bytes the replica is behind the offset it read, when known
}

func (t *Tracker) snapshot(at time.Time) Snapshot {
	s := Snapshot{
		At:              at,
		Epoch:           t.epoch,
		ResetReason:     t.resetReason,
		Keyspace:        map[int]DBStats{},
		LifetimeHitRate: math.NaN(),
		Memory:          Memory{Percent: -1, Frag: 0},
		Persistence:     Persistence{AOFLastWriteOK: true, LastBgsaveOK: true},
		Replication:     Replication{MasterLinkUp: true},
		Cluster:         t.cluster,
		Events:          slices.Clone(t.events),
		Sentinel:        t.sentinel,
	}
	if len(t.ticks) > 0 {
		last := t.ticks[len(t.ticks)-1]
		if !last.at.Add(-last.dt).Before(t.epoch) {
			s.Last = ratesOf(last.d, last.dt)
		} else {
			s.Last = ratesOf(counters{}, 0)
		}
	} else {
		s.Last = ratesOf(counters{}, 0)
	}
	s.Short = t.window(ShortWindow)
	s.Long = t.window(LongWindow)
	s.History = t.history()

	var hits, misses int64
	ttlWeighted := map[int]float64{}
	first, firstCounted := true, true
	for _, a := range t.order {
		n := t.nodes[a]
		if n == nil {
			continue
		}
		counted := n.ok && t.counts(n.info)
		s.Nodes = append(s.Nodes, n.status(a, counted))
		if !n.ok {
			continue
		}
		in := n.info

		// Every node: the worst memory pressure, connections (a client of a
		// replica is a client too), persistence, versions.
		m := &s.Memory
		m.Frag = max(m.Frag, in.Float("mem_fragmentation_ratio"))
		if m.Policy == "" {
			m.Policy = in.Str("maxmemory_policy")
		}
		if mx := in.Int("maxmemory"); mx > 0 {
			m.Percent = max(m.Percent, float64(in.Int("used_memory"))/float64(mx)*100)
		}
		s.Clients.Connected += in.Int("connected_clients")
		s.Clients.Blocked += in.Int("blocked_clients")
		s.Clients.MaxClients += in.Int("maxclients")
		addServer(&s.Server, in, first)
		addPersistence(&s.Persistence, in, first)
		first = false
		if !counted {
			continue
		}

		// Counted nodes only: what replicas would count twice.
		hits += in.Int("keyspace_hits")
		misses += in.Int("keyspace_misses")
		s.InstantOps += in.Int("instantaneous_ops_per_sec")
		m.Used += in.Int("used_memory")
		m.RSS += in.Int("used_memory_rss")
		m.Peak += in.Int("used_memory_peak")
		m.Max += in.Int("maxmemory")
		for db, st := range in.Keyspace {
			k := s.Keyspace[db]
			k.Keys += st.Keys
			k.Expires += st.Expires
			ttlWeighted[db] += float64(st.AvgTTL) * float64(st.Expires)
			s.Keyspace[db] = k
		}
		addReplication(&s.Replication, in, firstCounted)
		firstCounted = false
	}
	for db, k := range s.Keyspace {
		if k.Expires > 0 {
			k.AvgTTL = int64(ttlWeighted[db] / float64(k.Expires))
			s.Keyspace[db] = k
		}
	}
	if hits+misses > 0 {
		s.LifetimeHitRate = float64(hits) / float64(hits+misses)
	}
	return s
}

// status is the node's line of the nodes table.
func (n *nodeState) status(addr string, counted bool) NodeStatus {
	in := n.info
	ns := NodeStatus{Addr: addr, Role: InfoRole(in), LastOK: n.at, Used: in.Int("used_memory"),
		Clients: in.Int("connected_clients"), HitRate: math.NaN(), Counted: counted}
	for _, st := range in.Keyspace {
		ns.Keys += st.Keys
	}
	if r := ratesOf(n.last, n.lastDt); n.lastDt > 0 {
		ns.Ops, ns.HitRate, ns.Lookups = r.Ops, r.HitRate, r.Lookups
	}
	if mx := in.Int("maxmemory"); mx > 0 {
		ns.MemLevel = Memory{Percent: float64(ns.Used) / float64(mx) * 100}.Level()
	}
	if v := n.view; v != nil {
		ns.Slots, ns.Link, ns.Flags = v.SlotCount, v.LinkState, v.Flags
		if ns.Role == "" {
			ns.Role = v.Role
		}
	}
	if n.err != nil {
		ns.Err = n.err.Error()
	}
	return ns
}

func addServer(sv *Server, in Info, first bool) {
	if first {
		sv.Version = in.Str("redis_version")
		sv.Mode = in.Str("redis_mode")
		sv.RunID = in.Str("run_id")
		sv.Uptime = time.Duration(in.Int("uptime_in_seconds")) * time.Second
		return
	}
	if v := in.Str("redis_version"); v != sv.Version && !strings.Contains(sv.Version, "mixed") {
		sv.Version += " (mixed)"
	}
	sv.Uptime = min(sv.Uptime, time.Duration(in.Int("uptime_in_seconds"))*time.Second)
}

func addPersistence(p *Persistence, in Info, first bool) {
	p.AOF = p.AOF || in.Str("aof_enabled") == "1"
	p.AOFRewriting = p.AOFRewriting || in.Str("aof_rewrite_in_progress") == "1"
	if st := in.Str("aof_last_write_status"); st != "" && st != "ok" {
		p.AOFLastWriteOK = false
	}
	p.BgsaveInProgress = p.BgsaveInProgress || in.Str("rdb_bgsave_in_progress") == "1"
	if st := in.Str("rdb_last_bgsave_status"); st != "" && st != "ok" {
		p.LastBgsaveOK = false
	}
	if ts := in.Int("rdb_last_save_time"); ts > 0 {
		if tm := time.Unix(ts, 0); p.LastBgsaveTime.IsZero() || tm.Before(p.LastBgsaveTime) {
			p.LastBgsaveTime = tm
		}
	}
	p.ChangesSinceSave += in.Int("rdb_changes_since_last_save")
	if in.Has("rdb_saves") && in.Int("rdb_saves") == 0 && in.Str("rdb_bgsave_in_progress") != "1" {
		p.NeverSaved = first || p.NeverSaved
	} else {
		p.NeverSaved = false
	}
	p.Loading = p.Loading || in.Str("loading") == "1"
}

// addReplication sums the replication state of the counted nodes: on a
// cluster its masters, whose replicas are in the nodes table.
func addReplication(r *Replication, in Info, first bool) {
	role := in.Str("role")
	if first || role == "slave" {
		r.Role = role
	}
	r.ConnectedReplicas += in.Int("connected_slaves")
	for j := int64(0); j < in.Int("connected_slaves"); j++ {
		sub := in.Sub("slave" + strconv.FormatInt(j, 10))
		lag, _ := strconv.ParseInt(sub["lag"], 10, 64)
		r.MaxReplicaLag = max(r.MaxReplicaLag, lag)
	}
	if role == "slave" {
		r.MasterAddr = in.Str("master_host") + ":" + in.Str("master_port")
		r.MasterLinkUp = in.Str("master_link_status") == "up"
		r.MasterLastIO = max(r.MasterLastIO, in.Int("master_last_io_seconds_ago"))
		r.MasterLinkDown = max(r.MasterLinkDown, in.Int("master_link_down_since_seconds"))
		r.SyncInProgress = r.SyncInProgress || in.Str("master_sync_in_progress") == "1"
		if in.Has("slave_read_repl_offset") {
			r.ReplicaOffsetLag = max(r.ReplicaOffsetLag, in.Int("slave_read_repl_offset")-in.Int("slave_repl_offset"))
		}
	}
}

// Ready reports whether the snapshot holds any data.
func (s Snapshot) Ready() bool { return !s.At.IsZero() }
