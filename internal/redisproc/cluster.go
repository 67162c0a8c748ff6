package redisproc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// ClusterSlots is the number of hash slots a Redis Cluster divides keys into.
const ClusterSlots = 16384

// Cluster is a private Redis Cluster on loopback: each node is a Server in
// its own directory. Nodes lists the masters first, then the replicas in
// master order (replica j of master i is Nodes[masters+i*replicas+j]).
type Cluster struct {
	Nodes []*Server

	masters  int
	busPorts []int // cluster bus port of each node
}

// Masters returns the servers started as masters, in slot order: master i
// owns slots [i*16384/n, (i+1)*16384/n). A failover changes who is master;
// this keeps reporting the starting layout.
func (c *Cluster) Masters() []*Server { return c.Nodes[:c.masters] }

// Replicas returns the servers started as replicas.
func (c *Cluster) Replicas() []*Server { return c.Nodes[c.masters:] }

// Addrs returns every node's host:port, masters first.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		out[i] = s.Addr()
	}
	return out
}

// Stop stops every node.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, s := range c.Nodes {
		wg.Go(s.Stop)
	}
	wg.Wait()
}

// clusterFormTimeout bounds forming the cluster once its nodes run.
const clusterFormTimeout = 10 * time.Second

// StartCluster starts masters*(1+replicasPerMaster) cluster-enabled servers
// on free loopback ports and forms a cluster of them with plain commands
// (no redis-cli): slots split evenly over the masters, every node met,
// replicas attached. It returns once every node says cluster_state:ok,
// every replica's link to its master is up and each master accepts a
// write. It needs Redis 7.0+ (CLUSTER ADDSLOTSRANGE, cluster-port).
// opt.Args are added to every node; opt.Unix is not supported. With
// opt.TLS every node speaks TLS only, to clients, to its peers on the
// cluster bus and to its replicas: each announces its TLS port.
func StartCluster(ctx context.Context, masters, replicasPerMaster int, opt Options) (*Cluster, error) {
	if masters < 1 || replicasPerMaster < 0 {
		return nil, fmt.Errorf("cluster needs at least one master, got %d masters, %d replicas each", masters, replicasPerMaster)
	}
	if opt.Unix {
		return nil, errors.New("a cluster needs TCP nodes")
	}
	n := masters * (1 + replicasPerMaster)
	c := &Cluster{Nodes: make([]*Server, n), masters: masters, busPorts: make([]int, n)}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { c.Nodes[i], c.busPorts[i], errs[i] = startClusterNode(ctx, opt) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.stopStarted()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, clusterFormTimeout)
	defer cancel()
	if err := c.form(ctx, replicasPerMaster); err != nil {
		c.Stop()
		return nil, fmt.Errorf("forming the cluster: %w", err)
	}
	return c, nil
}

func (c *Cluster) stopStarted() {
	for _, s := range c.Nodes {
		if s != nil {
			s.Stop()
		}
	}
}

// startClusterNode starts one node. The cluster bus port is chosen freely
// too (the default, port+10000, does not exist above 55535), so a few
// attempts cover a bus port taken in between.
func startClusterNode(ctx context.Context, opt Options) (*Server, int, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		bus, err := freePort()
		if err != nil {
			return nil, 0, err
		}
		o := opt
		o.Args = append([]string{
			"--cluster-enabled", "yes",
			// Each node has its own directory, so the name need not
			// carry the port.
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000",
			"--cluster-port", strconv.Itoa(bus),
			// An empty replica syncs at once instead of after 5 s.
			"--repl-diskless-sync-delay", "0",
		}, opt.Args...)
		if opt.TLS != nil {
			o.Args = append(o.Args, "--tls-cluster", "yes", "--tls-replication", "yes")
		}
		s, err := Start(ctx, o)
		if err == nil {
			return s, bus, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, 0, lastErr
}

// BusPort is the cluster bus port of Nodes[i].
func (c *Cluster) BusPort(i int) int { return c.busPorts[i] }

func (c *Cluster) form(ctx context.Context, replicas int) error {
	clients := make([]*redis.Client, len(c.Nodes))
	for i, s := range c.Nodes {
		clients[i] = adminClient(s)
		defer clients[i].Close()
	}
	for i := range c.masters {
		lo, hi := i*ClusterSlots/c.masters, (i+1)*ClusterSlots/c.masters-1
		if err := clients[i].ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			return fmt.Errorf("%s: CLUSTER ADDSLOTSRANGE %d %d: %w", c.Nodes[i].Addr(), lo, hi, err)
		}
	}
	first := c.Nodes[0]
	for i := 1; i < len(c.Nodes); i++ {
		err := clients[i].Do(ctx, "cluster", "meet", "127.0.0.1", first.Port, c.busPorts[0]).Err()
		if err != nil {
			return fmt.Errorf("%s: CLUSTER MEET: %w", c.Nodes[i].Addr(), err)
		}
	}
	ids := make([]string, len(c.Nodes))
	for i, cl := range clients {
		id, err := cl.ClusterMyID(ctx).Result()
		if err != nil {
			return fmt.Errorf("%s: CLUSTER MYID: %w", c.Nodes[i].Addr(), err)
		}
		ids[i] = id
	}
	// A replica is attached as soon as it knows its master, so the news
	// spreads while the rest of the mesh forms.
	for i := range c.masters {
		for j := range replicas {
			r := c.masters + i*replicas + j
			if err := pollAll(ctx, clients[r:r+1], func(cl *redis.Client) error { return knows(ctx, cl, ids[i]) }); err != nil {
				return err
			}
			if err := clients[r].ClusterReplicate(ctx, ids[i]).Err(); err != nil {
				return fmt.Errorf("%s: CLUSTER REPLICATE: %w", c.Nodes[r].Addr(), err)
			}
		}
	}
	if err := pollAll(ctx, clients, func(cl *redis.Client) error { return knowsAll(ctx, cl, len(c.Nodes)) }); err != nil {
		return err
	}
	// Every node must see every replica as one before the cluster is
	// ready: until then, CLUSTER SHARDS on a node that has not heard yet
	// shows a replica as a master without slots.
	if err := pollAll(ctx, clients, func(cl *redis.Client) error { return sees(ctx, cl, c.masters, len(c.Nodes)-c.masters) }); err != nil {
		return err
	}
	if err := pollAll(ctx, clients, func(cl *redis.Client) error { return clusterOK(ctx, cl) }); err != nil {
		return err
	}
	if err := pollAll(ctx, clients[c.masters:], func(cl *redis.Client) error { return linkUp(ctx, cl) }); err != nil {
		return err
	}
	if err := pollAll(ctx, clients[:c.masters], func(cl *redis.Client) error { return writable(ctx, cl) }); err != nil {
		return err
	}
	if err := pollAll(ctx, clients, func(cl *redis.Client) error { return settled(ctx, cl) }); err != nil {
		return err
	}
	// What forming sent (CLUSTER SHARDS, NODES, the write checks) is not
	// the tests' to count.
	for i, cl := range clients {
		if err := cl.ConfigResetStat(ctx).Err(); err != nil {
			return fmt.Errorf("%s: CONFIG RESETSTAT: %w", c.Nodes[i].Addr(), err)
		}
	}
	return nil
}

// settled: the node's bus links to every other node are up, and it has
// heard each replica's replication offset (CLUSTER SHARDS calls a replica
// at offset 0 "loading"). Both lag the rest of the forming by a gossip
// round or two, and a tool asked just then reports them as they are.
func settled(ctx context.Context, cl *redis.Client) error {
	text, err := cl.ClusterNodes(ctx).Result()
	if err != nil {
		return err
	}
	for l := range strings.Lines(text) {
		if f := strings.Fields(l); len(f) > 7 && f[7] != "connected" {
			return fmt.Errorf("bus link down: %s", strings.TrimSpace(l))
		}
	}
	shards, err := cl.ClusterShards(ctx).Result()
	if err != nil {
		return err
	}
	for _, s := range shards {
		for _, n := range s.Nodes {
			if n.Health != "online" {
				return fmt.Errorf("node %s:%d is %s", n.IP, n.Port, n.Health)
			}
		}
	}
	return nil
}

// Failover sends CLUSTER FAILOVER to a replica of the master at addr
// (host:port), which then takes over, and returns the replica's address.
func (c *Cluster) Failover(ctx context.Context, master string) (string, error) {
	_, port, _ := strings.Cut(master, ":")
	for _, s := range c.Nodes {
		cl := adminClient(s)
		info, err := cl.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_port:"+port+"\r\n") {
			err = cl.Do(ctx, "cluster", "failover").Err()
			cl.Close()
			return s.Addr(), err
		}
		cl.Close()
	}
	return "", fmt.Errorf("no replica of %s", master)
}

// adminClient is a plain client for forming the cluster: no identity
// handshake, so the nodes' error counters start at zero.
func adminClient(s *Server) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:                     s.Addr(),
		Password:                 s.password,
		TLSConfig:                s.ClientTLS(),
		Protocol:                 2,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		MaxRetries:               -1,
		PoolSize:                 1,
		DialTimeout:              time.Second,
		ReadTimeout:              time.Second,
		WriteTimeout:             time.Second,
	})
}

// pollAll retries check on every client until all pass or ctx ends, and
// then returns the last failure.
func pollAll(ctx context.Context, clients []*redis.Client, check func(*redis.Client) error) error {
	for {
		var err error
		for _, cl := range clients {
			if e := check(cl); e != nil {
				err = fmt.Errorf("%s: %w", cl.Options().Addr, e)
				break
			}
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// knowsAll: the node lists every node, none still in handshake.
func knowsAll(ctx context.Context, cl *redis.Client, n int) error {
	text, err := cl.ClusterNodes(ctx).Result()
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != n {
		return fmt.Errorf("knows %d of %d nodes", len(lines), n)
	}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) < 3 || strings.Contains(f[2], "handshake") || strings.Contains(f[2], "noaddr") {
			return fmt.Errorf("node not met yet: %s", l)
		}
	}
	return nil
}

// sees: the node's CLUSTER NODES lists masters masters and replicas
// replicas.
func sees(ctx context.Context, cl *redis.Client, masters, replicas int) error {
	text, err := cl.ClusterNodes(ctx).Result()
	if err != nil {
		return err
	}
	var m, r int
	for l := range strings.Lines(text) {
		if f := strings.Fields(l); len(f) > 2 {
			for fl := range strings.SplitSeq(f[2], ",") {
				switch fl {
				case "master":
					m++
				case "slave":
					r++
				}
			}
		}
	}
	if m != masters || r != replicas {
		return fmt.Errorf("sees %d masters and %d replicas, want %d and %d", m, r, masters, replicas)
	}
	return nil
}

// knows: the node has met the node with this ID (handshake done).
func knows(ctx context.Context, cl *redis.Client, id string) error {
	text, err := cl.ClusterNodes(ctx).Result()
	if err != nil {
		return err
	}
	for l := range strings.Lines(text) {
		if f := strings.Fields(l); len(f) > 2 && f[0] == id && !strings.Contains(f[2], "handshake") {
			return nil
		}
	}
	return fmt.Errorf("has not met %s yet", id)
}

func clusterOK(ctx context.Context, cl *redis.Client) error {
	text, err := cl.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	if !strings.Contains(text, "cluster_state:ok") {
		return errors.New("cluster_state is not ok")
	}
	return nil
}

func linkUp(ctx context.Context, cl *redis.Client) error {
	text, err := cl.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if !strings.Contains(text, "master_link_status:up") {
		return errors.New("replica link not up")
	}
	return nil
}

// writable: a write to a key the node serves succeeds (a fresh master
// refuses writes for its first 2 s in a cluster).
func writable(ctx context.Context, cl *redis.Client) error {
	slots, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		return err
	}
	addr := cl.Options().Addr
	for _, r := range slots {
		if len(r.Nodes) > 0 && r.Nodes[0].Addr == addr {
			key := KeyForSlot(int(r.Start))
			if err := cl.Set(ctx, key, "1", 0).Err(); err != nil {
				return err
			}
			return cl.Del(ctx, key).Err()
		}
	}
	return errors.New("serves no slots yet")
}

// KeyForSlot returns a short key that hashes to slot.
func KeyForSlot(slot int) string {
	for i := 0; ; i++ {
		k := "redtop:" + strconv.Itoa(i)
		if int(crc16(k))%ClusterSlots == slot {
			return k
		}
	}
}

// KeySlot is the cluster hash slot of key, hash tags included.
func KeySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key)) % ClusterSlots
}

// crc16 is CRC-16/XMODEM, the checksum Redis Cluster hashes keys with.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
