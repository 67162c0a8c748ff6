package redisproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelOptions shape a Sentinel. The zero value watches with test
// timings: the master is down after 1 s without an answer, a failover
// gives up after 5 s.
type SentinelOptions struct {
	// DownAfter is sentinel down-after-milliseconds (default 1 s).
	DownAfter time.Duration
	// FailoverTimeout is sentinel failover-timeout (default 5 s).
	FailoverTimeout time.Duration
	// MasterPassword is sentinel auth-pass: what the sentinel gives the
	// master and replicas.
	MasterPassword string
	// Password is the sentinel's own requirepass.
	Password string
	// TLS, when set, makes the sentinel speak TLS only, on Port, and talk
	// TLS to the master and replicas (tls-replication).
	TLS *TLS
	// Stderr, when set, receives the sentinel's log.
	Stderr *os.File
}

// StartSentinel starts a Sentinel (redis-server --sentinel) monitoring the
// master at masterAddr under masterName, with quorum, on a free loopback
// port, and waits until it answers PING. Its config file (which Sentinel
// rewrites as it learns) lives in its own directory, removed by Stop.
func StartSentinel(ctx context.Context, masterName, masterAddr string, quorum int, opt SentinelOptions) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(masterAddr)
	if err != nil {
		return nil, fmt.Errorf("master address %q: %v", masterAddr, err)
	}
	monitor := []string{masterName, host, port, strconv.Itoa(quorum)}
	return startInDir(ctx, "redtop-sentinel-", true, func(dir string) (*Server, error) {
		return startSentinel(ctx, bin, dir, monitor, opt)
	})
}

func startSentinel(ctx context.Context, bin, dir string, monitor []string, opt SentinelOptions) (*Server, error) {
	downAfter, failover := opt.DownAfter, opt.FailoverTimeout
	if downAfter <= 0 {
		downAfter = time.Second
	}
	if failover <= 0 {
		failover = 5 * time.Second
	}
	name := monitor[0]
	conf := []string{
		"sentinel monitor " + strings.Join(monitor, " "),
		fmt.Sprintf("sentinel down-after-milliseconds %s %d", name, downAfter.Milliseconds()),
		fmt.Sprintf("sentinel failover-timeout %s %d", name, failover.Milliseconds()),
		"sentinel parallel-syncs " + name + " 1",
	}
	if opt.MasterPassword != "" {
		conf = append(conf, "sentinel auth-pass "+name+" "+opt.MasterPassword)
	}
	if opt.Password != "" {
		conf = append(conf, "requirepass "+opt.Password)
	}
	// Sentinel needs a config file it can rewrite, named first on the
	// command line.
	path := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(path, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, Port: port, password: opt.Password}
	args := []string{path, "--sentinel",
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--daemonize", "no",
		"--protected-mode", "yes",
		"--loglevel", "warning",
	}
	if opt.TLS != nil {
		cfg, err := opt.TLS.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("TLS files: %w", err)
		}
		s.tls = cfg
		args = append(args, opt.TLS.args(port)...)
		args = append(args, "--tls-replication", "yes")
	} else {
		args = append(args, "--port", strconv.Itoa(port))
	}
	if err := s.run(ctx, exec.Command(bin, args...), opt.Stderr, "redis-server --sentinel"); err != nil {
		return nil, err
	}
	return s, nil
}

// SentinelSet is a master, its replicas and one Sentinel watching them
// with quorum 1: enough for SENTINEL FAILOVER, which needs no agreement.
type SentinelSet struct {
	Name     string
	Master   *Server // the master at the start; a failover changes who is
	Replicas []*Server
	Sentinel *Server
}

// Servers returns the master and the replicas, as started.
func (s *SentinelSet) Servers() []*Server { return append([]*Server{s.Master}, s.Replicas...) }

// Stop stops the sentinel first (so it starts no failover), then the
// servers.
func (s *SentinelSet) Stop() {
	if s.Sentinel != nil {
		s.Sentinel.Stop()
	}
	for _, srv := range s.Servers() {
		if srv != nil {
			srv.Stop()
		}
	}
}

// StartSentinelSet starts a master named name, replicas replicas of it and
// a Sentinel, and returns once the sentinel sees every replica with its
// link to the master up (from then on SENTINEL FAILOVER can promote one)
// and the master lists each replica online.
func StartSentinelSet(ctx context.Context, name string, replicas int, opt SentinelOptions) (*SentinelSet, error) {
	// An empty replica syncs at once instead of after 5 s.
	fast := []string{"--repl-diskless-sync-delay", "0"}
	set := &SentinelSet{Name: name}
	var err error
	if set.Master, err = Start(ctx, Options{Args: fast}); err != nil {
		return nil, err
	}
	for range replicas {
		r, err := Start(ctx, Options{Args: append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(set.Master.Port)}, fast...)})
		if err != nil {
			set.Stop()
			return nil, err
		}
		set.Replicas = append(set.Replicas, r)
	}
	if set.Sentinel, err = StartSentinel(ctx, name, set.Master.Addr(), 1, opt); err != nil {
		set.Stop()
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := WaitSentinelReplicas(wctx, set.Sentinel, name, replicas); err != nil {
		set.Stop()
		return nil, err
	}
	if err := waitOnline(wctx, set.Master, replicas); err != nil {
		set.Stop()
		return nil, err
	}
	return set, nil
}

// waitOnline waits until master's INFO lists n replicas with state=online:
// a replica says its link is up before the master, which waits for its
// first REPLCONF ACK (up to a second later).
func waitOnline(ctx context.Context, master *Server, n int) error {
	c := redis.NewClient(&redis.Options{Addr: master.Addr(), Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	defer c.Close()
	for {
		text, err := c.Info(ctx, "replication").Result()
		if err == nil && strings.Count(text, ",state=online,") >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("master %s: replicas not online: %v %s", master.Addr(), err, text)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitSentinelReplicas waits until sentinel lists n replicas of name, each
// with nothing but the slave flag and master-link-status ok.
func WaitSentinelReplicas(ctx context.Context, sentinel *Server, name string, n int) error {
	c := redis.NewClient(&redis.Options{Addr: sentinel.Addr(), Password: sentinel.password, TLSConfig: sentinel.ClientTLS(),
		Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	defer c.Close()
	var last string
	for {
		v, err := c.Do(ctx, "sentinel", "replicas", name).Slice()
		good := 0
		for _, r := range v {
			f := pairs(r)
			if f["flags"] == "slave" && f["master-link-status"] == "ok" {
				good++
			}
		}
		if err == nil && good >= n {
			return nil
		}
		last = fmt.Sprintf("%d of %d replicas ready (%v)", good, n, err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("sentinel %s: %s", sentinel.Addr(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitSentinelMaster waits until sentinel names a master other than old
// (after a failover) and returns it.
func WaitSentinelMaster(ctx context.Context, sentinel *Server, name, old string) (string, error) {
	c := redis.NewClient(&redis.Options{Addr: sentinel.Addr(), Password: sentinel.password, TLSConfig: sentinel.ClientTLS(),
		Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	defer c.Close()
	for {
		f, err := c.Do(ctx, "sentinel", "master", name).Slice()
		if err == nil {
			m := pairs(f)
			if addr := net.JoinHostPort(m["ip"], m["port"]); m["ip"] != "" && addr != old {
				return addr, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", errors.New("sentinel " + sentinel.Addr() + " still names " + old)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func pairs(v any) map[string]string {
	out := map[string]string{}
	if a, ok := v.([]any); ok {
		for i := 0; i+1 < len(a); i += 2 {
			out[fmt.Sprint(a[i])] = fmt.Sprint(a[i+1])
		}
	}
	return out
}

// SentinelSetForTest starts a SentinelSet for a test and stops it in
// t.Cleanup. Without redis-server on PATH the test is skipped, unless CI
// is set (as ForTest).
func SentinelSetForTest(t testing.TB, replicas int) *SentinelSet {
	t.Helper()
	needBinary(t)
	set, err := StartSentinelSet(context.Background(), "mymaster", replicas, SentinelOptions{})
	if err != nil {
		t.Fatalf("start sentinel set: %v", err)
	}
	t.Cleanup(set.Stop)
	return set
}

// SentinelForTest starts a Sentinel for a test and stops it in t.Cleanup.
func SentinelForTest(t testing.TB, masterName, masterAddr string, quorum int, opt SentinelOptions) *Server {
	t.Helper()
	needBinary(t)
	s, err := StartSentinel(context.Background(), masterName, masterAddr, quorum, opt)
	if err != nil {
		t.Fatalf("start sentinel: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}
