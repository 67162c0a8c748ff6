// Package demo runs `redtop --demo`: a private redis-server with a workload
// shaped like a Django site caching through django-redis, so every pane has
// something to show. Seed and Run drive any server, for tests and
// benchmarks; Start wires them to a server of its own.
package demo

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
	"redtop/internal/redisproc"
)

// WorkloadClientName is what the workload's connection calls itself, so the
// clients pane tells it apart from redtop's own connections. Its traffic is
// the application's: it is meant to count in the server's hit rate.
const WorkloadClientName = "demo-workload"

// demoDB is where the data lives, as in a django-redis LOCATION ending in /1.
const demoDB = 1

// serverArgs: a memory limit with LRU eviction, so memory against
// maxmemory shows on the dashboard. redisproc already persists nothing.
var serverArgs = []string{"--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"}

// Demo is a running demo: the server and the workload driving it.
type Demo struct {
	srv    *redisproc.Server
	target conn.Target
	client *redis.Client
	cancel context.CancelFunc
	done   chan struct{}
	stop   sync.Once
}

// Start starts a private redis-server on a unix socket (nothing persisted,
// maxmemory 64mb with allkeys-lru, killed by the kernel if redtop dies),
// seeds it and starts the workload. ctx bounds the start and the seeding
// only; the workload runs until Stop. Without redis-server on PATH it
// returns redisproc.ErrNotInstalled.
func Start(ctx context.Context) (*Demo, error) {
	srv, err := redisproc.Start(ctx, redisproc.Options{Unix: true, Args: serverArgs})
	if err != nil {
		return nil, err
	}
	d := &Demo{
		srv:    srv,
		target: conn.Target{Network: "unix", Addr: srv.Socket, DB: demoDB, Timeout: 2 * time.Second},
		done:   make(chan struct{}),
	}
	d.client = redis.NewClient(workloadOptions(d.target))
	seedCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = Seed(seedCtx, d.client)
	cancel()
	if err != nil {
		d.client.Close()
		srv.Stop()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go d.run(runCtx)
	return d, nil
}

// workloadOptions are redtop's usual client options under the workload's
// own name.
func workloadOptions(t conn.Target) *redis.Options {
	o := t.Options()
	o.ClientName = WorkloadClientName
	return o
}

// run keeps the workload going. Run gives up on the first server error; a
// hiccup (a slow moment, a timeout) should not end the demo, so it starts
// again after a pause that grows while the errors last.
func (d *Demo) run(ctx context.Context) {
	defer close(d.done)
	pause := 250 * time.Millisecond
	for {
		if err := Run(ctx, d.client, Options{}); err == nil || ctx.Err() != nil {
			return
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// Target is the demo server as redtop should connect to it: its unix
// socket, database 1, 2 s timeout.
func (d *Demo) Target() conn.Target { return d.target }

// Stop stops the workload, waits for it, and kills the server. It is safe to
// call more than once.
func (d *Demo) Stop() {
	d.stop.Do(func() {
		d.cancel()
		<-d.done
		d.client.Close()
		d.srv.Stop()
	})
}
