package redisinfo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
)

// ClusterNode is one node of a Redis Cluster as the cluster describes it.
type ClusterNode struct {
	ID        string
	Addr      string   // host:port to dial
	Role      string   // "master" or "replica"
	MasterID  string   // a replica's master, "" for a master
	Slots     [][2]int // served slot ranges, inclusive; masters only
	SlotCount int
	Flags     []string // fail, pfail, handshake, noaddr, nofailover, loading, myself…
	LinkState string   // "connected" or "disconnected"; "" when unknown (CLUSTER SHARDS)
}

// Master reports whether the node is a master.
func (n ClusterNode) Master() bool { return n.Role == "master" }

// HasFlag reports whether the node carries flag f.
func (n ClusterNode) HasFlag(f string) bool { return slices.Contains(n.Flags, f) }

// Failing reports whether the node is failed or suspected to be.
func (n ClusterNode) Failing() bool { return n.HasFlag("fail") || n.HasFlag("pfail") }

// IsCluster reports whether INFO came from a cluster node (cluster_enabled:1).
func IsCluster(info Info) bool { return info.Str("cluster_enabled") == "1" }

// DiscoverCluster asks seed for the cluster's nodes: CLUSTER SHARDS (Redis
// 7.0+) and CLUSTER NODES for the link states, or CLUSTER NODES alone on
// servers without SHARDS. t says how redtop dials
// (its TLS picks a node's tls-port); a node whose address the cluster does
// not know is given the seed's host. ledger (may be nil) books the calls.
// Masters come first in slot order, each followed by its replicas.
func DiscoverCluster(ctx context.Context, seed *redis.Client, t conn.Target, ledger *Ledger) ([]ClusterNode, error) {
	seedAddr := seed.Options().Addr
	w := wire{l: ledger, node: seedAddr}
	host, _, err := net.SplitHostPort(seedAddr)
	if err != nil {
		host = ""
	}
	args := []string{"cluster", "shards"}
	v, err := seed.Do(ctx, "cluster", "shards").Slice()
	if err == nil {
		w.ok("cluster|shards", args, respSize(v))
		nodes, err := parseShards(v, host, t.TLS != nil)
		if err == nil {
			addLinks(ctx, seed, w, nodes)
		}
		return nodes, err
	}
	w.failed("cluster|shards", args, err)
	if !isServerReply(err) || isRejected(err) {
		return nil, err
	}
	// Unknown subcommand (Redis < 7.0): CLUSTER NODES has it all too.
	args = []string{"cluster", "nodes"}
	text, err := seed.ClusterNodes(ctx).Result()
	if err != nil {
		w.failed("cluster|nodes", args, err)
		return nil, err
	}
	w.ok("cluster|nodes", args, wireBulk(len(text)))
	return ParseClusterNodes(text, host)
}

// addLinks fills in what CLUSTER SHARDS leaves out, from CLUSTER NODES:
// each node's link state and its pfail, handshake, noaddr and nofailover
// flags, matched by node ID. Without CLUSTER NODES (an ACL may refuse it)
// the nodes stay as SHARDS described them.
func addLinks(ctx context.Context, seed *redis.Client, w wire, nodes []ClusterNode) {
	args := []string{"cluster", "nodes"}
	text, err := seed.ClusterNodes(ctx).Result()
	if err != nil {
		w.failed("cluster|nodes", args, err)
		return
	}
	w.ok("cluster|nodes", args, wireBulk(len(text)))
	seen, err := ParseClusterNodes(text, "")
	if err != nil {
		return
	}
	byID := make(map[string]ClusterNode, len(seen))
	for _, n := range seen {
		byID[n.ID] = n
	}
	for i := range nodes {
		n := &nodes[i]
		o, ok := byID[n.ID]
		if !ok {
			continue
		}
		n.LinkState = o.LinkState
		for _, f := range o.Flags {
			if f != "myself" && !n.HasFlag(f) { // myself depends on who was asked
				n.Flags = append(n.Flags, f)
			}
		}
	}
}

// NodesFor builds one client per cluster node for a Poller, from the
// target's options with the address replaced: same user, password, TLS
// and timeouts; database 0, the only one a cluster has.
func NodesFor(t conn.Target, nodes []ClusterNode) []Node {
	return UpdateNodes(t, nil, nodes)
}

// UpdateNodes is NodesFor after a new discovery: a node already in have
// (same address) keeps its client, so its connection and the poller's
// state for it carry on; the others get new clients. Every node gets the
// cluster's new view of it. Poller.SetNodes closes the clients left over.
func UpdateNodes(t conn.Target, have []Node, nodes []ClusterNode) []Node {
	out := make([]Node, 0, len(nodes))
	for _, n := range nodes {
		view := n
		node := Node{Addr: n.Addr, ClusterNode: &view}
		if i := slices.IndexFunc(have, func(h Node) bool { return h.Addr == n.Addr }); i >= 0 {
			node.Client = have[i].Client
		} else {
			node.Client = redis.NewClient(t.ForNode(n.Addr).Options())
		}
		out = append(out, node)
	}
	return out
}

// Masters returns the master nodes of nodes.
func Masters(nodes []ClusterNode) []ClusterNode {
	var out []ClusterNode
	for _, n := range nodes {
		if n.Master() {
			out = append(out, n)
		}
	}
	return out
}

// ParseClusterNodes reads CLUSTER NODES output. seedHost fills in a node
// whose address is empty (the "myself" line of a node that never learnt
// its own IP).
func ParseClusterNodes(text, seedHost string) ([]ClusterNode, error) {
	var out []ClusterNode
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("CLUSTER NODES: short line %q", line)
		}
		n := ClusterNode{ID: f[0], LinkState: f[7]}
		addr, _, _ := strings.Cut(f[1], ",") // ip:port@cport[,hostname]
		addr, _, _ = strings.Cut(addr, "@")
		h, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("CLUSTER NODES: bad address %q", f[1])
		}
		if h == "" {
			h = seedHost
		}
		n.Addr = net.JoinHostPort(h, port)
		for fl := range strings.SplitSeq(f[2], ",") {
			switch fl {
			case "master":
				n.Role = "master"
			case "slave":
				n.Role = "replica"
			case "fail?":
				n.Flags = append(n.Flags, "pfail")
			case "noflags", "":
			default:
				n.Flags = append(n.Flags, fl)
			}
		}
		if f[3] != "-" {
			n.MasterID = f[3]
		}
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") { // [slot->-id] migrating / [slot-<-id] importing
				continue
			}
			lo, hi, isRange := strings.Cut(s, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if isRange {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil || b < a {
				return nil, fmt.Errorf("CLUSTER NODES: bad slot range %q", s)
			}
			n.Slots = append(n.Slots, [2]int{a, b})
			n.SlotCount += b - a + 1
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("CLUSTER NODES: no nodes")
	}
	sortNodes(out)
	return out, nil
}

// parseShards reads a RESP2 CLUSTER SHARDS reply as go-redis returns it
// from Do (or as JSON numbers, in tests): shards of flat key/value lists.
func parseShards(v []any, seedHost string, useTLS bool) ([]ClusterNode, error) {
	var out []ClusterNode
	for _, sh := range v {
		shard := kvMap(sh)
		if shard == nil {
			return nil, errors.New("CLUSTER SHARDS: shard is not a map")
		}
		var slots [][2]int
		count := 0
		flat, _ := shard["slots"].([]any)
		for i := 0; i+1 < len(flat); i += 2 {
			a, ok1 := toInt(flat[i])
			b, ok2 := toInt(flat[i+1])
			if !ok1 || !ok2 || b < a {
				return nil, fmt.Errorf("CLUSTER SHARDS: bad slot range %v-%v", flat[i], flat[i+1])
			}
			slots = append(slots, [2]int{a, b})
			count += b - a + 1
		}
		list, _ := shard["nodes"].([]any)
		first := len(out)
		masterID := ""
		for _, nv := range list {
			m := kvMap(nv)
			if m == nil {
				return nil, errors.New("CLUSTER SHARDS: node is not a map")
			}
			n := ClusterNode{ID: str(m["id"]), Role: str(m["role"])}
			if n.Role == "" {
				return nil, fmt.Errorf("CLUSTER SHARDS: node %s has no role", n.ID)
			}
			h := str(m["endpoint"])
			if h == "" || h == "?" {
				h = str(m["ip"])
			}
			if h == "" || h == "?" {
				h = seedHost
			}
			port, _ := toInt(m["port"])
			if tp, ok := toInt(m["tls-port"]); ok && tp > 0 && (useTLS || port == 0) {
				port = tp
			}
			n.Addr = net.JoinHostPort(h, strconv.Itoa(port))
			switch str(m["health"]) {
			case "fail", "failed": // 7.0 says fail, the documentation failed
				n.Flags = append(n.Flags, "fail")
			case "loading":
				n.Flags = append(n.Flags, "loading")
			}
			if n.Role == "master" {
				n.Slots, n.SlotCount = slots, count
				masterID = n.ID
			}
			out = append(out, n)
		}
		for i := first; i < len(out); i++ {
			if out[i].Role != "master" {
				out[i].MasterID = masterID
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("CLUSTER SHARDS: no nodes")
	}
	sortNodes(out)
	return out, nil
}

// sortNodes puts masters first in slot order (slotless ones by address),
// each followed by its replicas by address; orphans go last.
func sortNodes(nodes []ClusterNode) {
	rank := map[string]int{}
	masters := Masters(nodes)
	slices.SortFunc(masters, func(a, b ClusterNode) int {
		if len(a.Slots) > 0 && len(b.Slots) > 0 {
			return cmp.Compare(a.Slots[0][0], b.Slots[0][0])
		}
		if len(a.Slots) != len(b.Slots) {
			return cmp.Compare(len(b.Slots), len(a.Slots))
		}
		return cmp.Compare(a.Addr, b.Addr)
	})
	for i, m := range masters {
		rank[m.ID] = i
	}
	key := func(n ClusterNode) (int, int) {
		if n.Master() {
			return rank[n.ID], 0
		}
		if r, ok := rank[n.MasterID]; ok {
			return r, 1
		}
		return len(masters), 1
	}
	slices.SortStableFunc(nodes, func(a, b ClusterNode) int {
		ra, sa := key(a)
		rb, sb := key(b)
		if c := cmp.Compare(ra, rb); c != 0 {
			return c
		}
		if c := cmp.Compare(sa, sb); c != 0 {
			return c
		}
		return cmp.Compare(a.Addr, b.Addr)
	})
}

// kvMap reads a RESP2 flat key/value array or a RESP3 map.
func kvMap(v any) map[string]any {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, v := range x {
			m[str(k)] = v
		}
		return m
	case map[string]any:
		return x
	case []any:
		if len(x)%2 != 0 {
			return nil
		}
		m := make(map[string]any, len(x)/2)
		for i := 0; i < len(x); i += 2 {
			m[str(x[i])] = x[i+1]
		}
		return m
	}
	return nil
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case int64:
		return int(x), true
	case int:
		return x, true
	case float64: // JSON
		return int(x), x == float64(int(x))
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}

// respSize is the RESP2 size of a reply as go-redis decodes it, for the
// ledger's byte counts.
func respSize(v any) int {
	switch x := v.(type) {
	case []any:
		n := wireArray(len(x))
		for _, e := range x {
			n += respSize(e)
		}
		return n
	case string:
		return wireBulk(len(x))
	case int64:
		return wireInt(x)
	case nil:
		return 5 // $-1\r\n
	}
	return wireBulk(len(fmt.Sprint(v)))
}
