package redisinfo

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
)

// Report is the batch mode's view of a snapshot (redtop --once --json).
// Field names are part of redtop's interface: the README documents them.
type Report struct {
	Time                time.Time          `json:"time"`
	WindowSeconds       float64            `json:"window_seconds"`
	HitRate             *float64           `json:"hit_rate"`
	HitsPerSec          float64            `json:"hits_per_sec"`
	MissesPerSec        float64            `json:"misses_per_sec"`
	OpsPerSec           float64            `json:"ops_per_sec"`
	InstantaneousOps    int64              `json:"instantaneous_ops_per_sec"`
	LifetimeHitRate     *float64           `json:"lifetime_hit_rate"`
	UsedMemoryBytes     int64              `json:"used_memory_bytes"`
	RSSBytes            int64              `json:"used_memory_rss_bytes"`
	PeakMemoryBytes     int64              `json:"used_memory_peak_bytes"`
	FragmentationRatio  float64            `json:"mem_fragmentation_ratio"`
	MaxmemoryBytes      int64              `json:"maxmemory_bytes"`
	MaxmemoryPolicy     string             `json:"maxmemory_policy"`
	MemoryPercent       *float64           `json:"memory_percent_of_max"`
	EvictedKeysPerSec   float64            `json:"evicted_keys_per_sec"`
	ExpiredKeysPerSec   float64            `json:"expired_keys_per_sec"`
	ConnectedClients    int64              `json:"connected_clients"`
	BlockedClients      int64              `json:"blocked_clients"`
	RejectedConnsPerSec float64            `json:"rejected_connections_per_sec"`
	NetInBytesPerSec    float64            `json:"net_input_bytes_per_sec"`
	NetOutBytesPerSec   float64            `json:"net_output_bytes_per_sec"`
	CPUPercent          float64            `json:"cpu_percent"`
	RedisVersion        string             `json:"redis_version"`
	Mode                string             `json:"mode"`
	Role                string             `json:"role"`
	UptimeSeconds       int64              `json:"uptime_seconds"`
	AOFEnabled          bool               `json:"aof_enabled"`
	AOFRewriting        bool               `json:"aof_rewrite_in_progress"`
	LastBgsaveOK        bool               `json:"rdb_last_bgsave_ok"`
	ChangesSinceSave    int64              `json:"rdb_changes_since_last_save"`
	Replication         ReplicationReport  `json:"replication"`
	Keyspace            map[string]DBStats `json:"keyspace"`
	TopCommands         []CommandReport    `json:"top_commands"`
	Nodes               int                `json:"nodes"`
	Masters             int                `json:"masters,omitempty"`   // on a cluster: the nodes summed
	NodeList            []NodeReport       `json:"node_list,omitempty"` // on a cluster: every node polled
	ClusterState        string             `json:"cluster_state,omitempty"`
	ClusterSlotsOK      int64              `json:"cluster_slots_ok,omitempty"`
	ClusterSlotsFail    int64              `json:"cluster_slots_fail,omitempty"`
	WindowRestarted     string             `json:"window_restarted,omitempty"`
	Sentinel            *SentinelReport    `json:"sentinel,omitempty"` // with --sentinel: the sentinels' view
}

// ReplicationReport is the replication part of a Report.
type ReplicationReport struct {
	ConnectedReplicas int64  `json:"connected_replicas"`
	MaxReplicaLag     int64  `json:"max_replica_lag_seconds"`
	MasterAddr        string `json:"master,omitempty"`
	MasterLinkUp      *bool  `json:"master_link_up,omitempty"`
	MasterLastIO      *int64 `json:"master_last_io_seconds_ago,omitempty"`
}

// NodeReport is one node of a cluster in a Report: its own figures over
// the last interval, and the cluster's view of it.
type NodeReport struct {
	Addr             string   `json:"addr"`
	Role             string   `json:"role"`    // master or replica
	InSums           bool     `json:"in_sums"` // counted in the report's sums (masters)
	Slots            int      `json:"slots"`
	Link             string   `json:"link,omitempty"`  // connected or disconnected, as the cluster sees it
	Flags            []string `json:"flags,omitempty"` // fail, pfail, loading…
	Keys             int64    `json:"keys"`
	UsedMemoryBytes  int64    `json:"used_memory_bytes"`
	OpsPerSec        float64  `json:"ops_per_sec"`
	HitRate          *float64 `json:"hit_rate"`
	ConnectedClients int64    `json:"connected_clients"`
	Error            string   `json:"error,omitempty"` // why redtop got no reply
}

// CommandReport is one command's rate in a Report.
type CommandReport struct {
	Name        string  `json:"name"`
	PerSec      float64 `json:"calls_per_sec"`
	UsecPerCall float64 `json:"usec_per_call"`
}

// NewReport summarises the last interval of a snapshot.
func NewReport(s Snapshot) Report {
	r := s.Last
	rep := Report{
		Time:                s.At,
		WindowSeconds:       round(r.Span.Seconds(), 3),
		HitRate:             ratio(r.HitRate),
		HitsPerSec:          round(r.Hits, 2),
		MissesPerSec:        round(r.Misses, 2),
		OpsPerSec:           round(r.Ops, 2),
		InstantaneousOps:    s.InstantOps,
		LifetimeHitRate:     ratio(s.LifetimeHitRate),
		UsedMemoryBytes:     s.Memory.Used,
		RSSBytes:            s.Memory.RSS,
		PeakMemoryBytes:     s.Memory.Peak,
		FragmentationRatio:  s.Memory.Frag,
		MaxmemoryBytes:      s.Memory.Max,
		MaxmemoryPolicy:     s.Memory.Policy,
		EvictedKeysPerSec:   round(r.Evicted, 2),
		ExpiredKeysPerSec:   round(r.Expired, 2),
		ConnectedClients:    s.Clients.Connected,
		BlockedClients:      s.Clients.Blocked,
		RejectedConnsPerSec: round(r.Rejected, 2),
		NetInBytesPerSec:    round(r.NetIn, 1),
		NetOutBytesPerSec:   round(r.NetOut, 1),
		CPUPercent:          round(r.CPU, 2),
		RedisVersion:        s.Server.Version,
		Mode:                s.Server.Mode,
		Role:                s.Replication.Role,
		UptimeSeconds:       int64(s.Server.Uptime.Seconds()),
		AOFEnabled:          s.Persistence.AOF,
		AOFRewriting:        s.Persistence.AOFRewriting,
		LastBgsaveOK:        s.Persistence.LastBgsaveOK,
		ChangesSinceSave:    s.Persistence.ChangesSinceSave,
		Keyspace:            map[string]DBStats{},
		TopCommands:         []CommandReport{},
		Nodes:               len(s.Nodes),
		WindowRestarted:     s.ResetReason,
		Sentinel:            s.Sentinel.report(),
	}
	if c := s.Cluster; c != nil {
		rep.ClusterState, rep.ClusterSlotsOK, rep.ClusterSlotsFail = c.State, c.SlotsOK, c.SlotsFail+c.SlotsPFail
	}
	if s.Cluster != nil || len(s.Nodes) > 1 {
		for _, n := range s.Nodes {
			if n.Counted {
				rep.Masters++
			}
			rep.NodeList = append(rep.NodeList, NodeReport{
				Addr: n.Addr, Role: n.Role, InSums: n.Counted, Slots: n.Slots, Link: n.Link, Flags: n.Flags,
				Keys: n.Keys, UsedMemoryBytes: n.Used, OpsPerSec: round(n.Ops, 2), HitRate: ratio(n.HitRate),
				ConnectedClients: n.Clients, Error: n.Err,
			})
		}
	}
	if s.Memory.Percent >= 0 {
		p := round(s.Memory.Percent, 2)
		rep.MemoryPercent = &p
	}
	rep.Replication = ReplicationReport{ConnectedReplicas: s.Replication.ConnectedReplicas, MaxReplicaLag: s.Replication.MaxReplicaLag}
	if s.Replication.Role == "slave" {
		up, io := s.Replication.MasterLinkUp, s.Replication.MasterLastIO
		rep.Replication.MasterAddr = s.Replication.MasterAddr
		rep.Replication.MasterLinkUp, rep.Replication.MasterLastIO = &up, &io
	}
	for db, k := range s.Keyspace {
		rep.Keyspace[fmt.Sprintf("db%d", db)] = k
	}
	for i, c := range r.Commands {
		if i == 10 {
			break
		}
		rep.TopCommands = append(rep.TopCommands, CommandReport{Name: c.Name, PerSec: round(c.PerSec, 2), UsecPerCall: round(c.UsecPerCall, 2)})
	}
	return rep
}

func ratio(f float64) *float64 {
	if math.IsNaN(f) {
		return nil
	}
	v := round(f, 4)
	return &v
}

func round(f float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(f*p) / p
}

// WriteJSON writes the report as one JSON object and a newline.
func (r Report) WriteJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(r)
}

// WriteText writes the report for people, like top -b.
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	pr := func(f *float64) string {
		if f == nil {
			return "— (no lookups)"
		}
		return fmt.Sprintf("%.1f%%", *f*100)
	}
	if r.Masters > 0 {
		p("window", "%.1fs over %d nodes; sums over the %d masters", r.WindowSeconds, r.Nodes, r.Masters)
	} else {
		p("window", "%.1fs over %d node(s)", r.WindowSeconds, r.Nodes)
	}
	p("hit rate", "%s  (hits %.1f/s, misses %.1f/s)", pr(r.HitRate), r.HitsPerSec, r.MissesPerSec)
	p("lifetime hit rate", "%s", pr(r.LifetimeHitRate))
	p("ops", "%.1f/s  (instantaneous %d/s)", r.OpsPerSec, r.InstantaneousOps)
	mem := ib(r.UsedMemoryBytes)
	if r.MemoryPercent != nil {
		mem += fmt.Sprintf(" of %s (%.1f%%)", ib(r.MaxmemoryBytes), *r.MemoryPercent)
	} else {
		mem += ", no maxmemory"
	}
	p("memory", "%s, rss %s, frag %.2f, policy %s", mem, ib(r.RSSBytes), r.FragmentationRatio, r.MaxmemoryPolicy)
	p("evicted / expired", "%.1f/s / %.1f/s", r.EvictedKeysPerSec, r.ExpiredKeysPerSec)
	p("clients", "%d connected, %d blocked, %.1f rejected/s", r.ConnectedClients, r.BlockedClients, r.RejectedConnsPerSec)
	p("network", "in %s/s, out %s/s", ib(int64(r.NetInBytesPerSec)), ib(int64(r.NetOutBytesPerSec)))
	p("cpu", "%.1f%%", r.CPUPercent)
	p("server", "redis %s, %s, role %s, up %ds", r.RedisVersion, r.Mode, r.Role, r.UptimeSeconds)
	p("persistence", "aof %s, rewriting %v, last bgsave ok %v, %d changes since save", onOff(r.AOFEnabled), r.AOFRewriting, r.LastBgsaveOK, r.ChangesSinceSave)
	dbs := make([]string, 0, len(r.Keyspace))
	for db := range r.Keyspace {
		dbs = append(dbs, db)
	}
	sort.Slice(dbs, func(i, j int) bool { return len(dbs[i]) < len(dbs[j]) || len(dbs[i]) == len(dbs[j]) && dbs[i] < dbs[j] })
	for _, db := range dbs {
		k := r.Keyspace[db]
		p(db, "%d keys, %d with ttl, avg ttl %dms", k.Keys, k.Expires, k.AvgTTL)
	}
	var cmds []string
	for _, c := range r.TopCommands {
		cmds = append(cmds, fmt.Sprintf("%s %.1f/s", strings.ToUpper(c.Name), c.PerSec))
	}
	if len(cmds) == 0 {
		cmds = append(cmds, "none")
	}
	p("top commands", "%s", strings.Join(cmds, ", "))
	for _, n := range r.NodeList {
		line := fmt.Sprintf("%s, %d slots, %d keys, %s, %.1f ops/s, hit %s, %d clients", n.Role, n.Slots, n.Keys,
			ib(n.UsedMemoryBytes), n.OpsPerSec, pr(n.HitRate), n.ConnectedClients)
		if n.Link != "" {
			line += ", link " + n.Link
		}
		if len(n.Flags) > 0 {
			line += ", " + strings.Join(n.Flags, " ")
		}
		if n.Error != "" {
			line += ", no reply: " + n.Error
		}
		p("node "+n.Addr, "%s", line)
	}
	if r.Sentinel != nil {
		p("sentinel", "%s", r.Sentinel)
	}
	if r.WindowRestarted != "" {
		p("note", "window restarted: %s", r.WindowRestarted)
	}
	return tw.Flush()
}

func ib(n int64) string { return humanize.IBytes(uint64(max(0, n))) }

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
