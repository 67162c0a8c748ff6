package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
	"redtop/redisinfo"
	"redtop/ui"
)

// resolveSentinel asks the sentinels where the master is, when the target
// goes through Sentinel and was not located yet; otherwise it returns t.
// Its errors are one line each (unknown name, no sentinel answering, the
// master down or not a master).
func resolveSentinel(ctx context.Context, t conn.Target) (conn.Target, error) {
	if t.Sentinel == nil || t.Addr != "" {
		return t, nil
	}
	return conn.LocateMaster(ctx, t)
}

// followSentinel makes every poll ask the sentinels for their view and
// move the poller to the new master after a failover (shown as an event).
// A no-op unless the target goes through Sentinel, or when already
// following.
//
// a.Target and a.Client stay what connect opened: writing them from the
// polling goroutine would race with every reader. What changes on a switch
// is read with a.target() and a.client(), and pushed to whoever registered
// with a.onMasterSwitch.
func (a *App) followSentinel() {
	if a.Target.Sentinel == nil || a.Poller.SentinelWatcher() != nil {
		return
	}
	a.Poller.WatchSentinel(redisinfo.NewSentinelWatcher(a.Target))
}

// onMasterSwitch registers f to run after a failover, with the new
// master's target and reading client (the poller's: do not close it). The
// old reading client is closed right after f returns, so f must stop using
// it. A no-op without Sentinel.
func (a *App) onMasterSwitch(f func(conn.Target, *redis.Client)) {
	if w := a.Poller.SentinelWatcher(); w != nil {
		w.OnSwitch(f)
	}
}

// target is the target redtop talks to now: after a failover, the new
// master's.
func (a *App) target() conn.Target {
	if w := a.Poller.SentinelWatcher(); w != nil {
		return w.Target()
	}
	return a.Target
}

// client is the reading client now: after a failover, the new master's.
func (a *App) client() *redis.Client {
	if a.Poller.SentinelWatcher() != nil {
		if nodes := a.Poller.Nodes(); len(nodes) > 0 {
			return nodes[0].Client
		}
	}
	return a.Client
}

// targetLabel names the target in the top bar. Through Sentinel it names
// the master by its name and sentinels, which stay true after a failover
// (the overview shows where the master is now).
func (a *App) targetLabel() string {
	if s := a.Target.Sentinel; s != nil {
		return s.String()
	}
	return a.Target.String()
}

// switchingKeys is the key browser's source through Sentinel: a keySource
// on the current master, replaced by a fresh one (probed again, its own
// connections) after a failover. A SCAN cursor means nothing on another
// server, so cursors carry the switch count in their top byte and a scan
// that spans a failover stops with an error saying so; R rescans.
type switchingKeys struct {
	app *App
	mu  sync.Mutex
	cur *keySource
	gen uint64 // failovers seen, mod 256 in cursors
}

// retarget moves to the new master: later calls go there; calls in flight
// on the old master end with a closed-client error.
func (s *switchingKeys) retarget(t conn.Target, c *redis.Client) {
	next := &keySource{target: t, node: t.Addr, ledger: s.app.Ledger, probe: c, ro: s.app.Browse.readOnly}
	s.mu.Lock()
	old := s.cur
	s.cur, s.gen = next, s.gen+1
	s.mu.Unlock()
	old.Close()
}

func (s *switchingKeys) get() (*keySource, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur, s.gen
}

func (s *switchingKeys) src() *keySource { k, _ := s.get(); return k }

// Close closes the current source.
func (s *switchingKeys) Close() { s.src().Close() }

const cursorGenShift = 56

func (s *switchingKeys) ScanPage(ctx context.Context, cursor uint64, pattern, typ string, meta bool) (ui.ScanPage, error) {
	k, gen := s.get()
	if cursor != 0 && cursor>>cursorGenShift != gen&0xff {
		return ui.ScanPage{}, fmt.Errorf("the master moved to %s (failover) during the scan: press R to scan it again", k.node)
	}
	p, err := k.ScanPage(ctx, cursor&(1<<cursorGenShift-1), pattern, typ, meta)
	if err == nil && p.Cursor != 0 {
		p.Cursor |= (gen & 0xff) << cursorGenShift
	}
	return p, err
}

func (s *switchingKeys) NewTree(delim string) ui.KeyTree           { return s.src().NewTree(delim) }
func (s *switchingKeys) DBSize(ctx context.Context) (int64, error) { return s.src().DBSize(ctx) }
func (s *switchingKeys) Inspect(ctx context.Context, names []string) ([]ui.KeyRow, error) {
	return s.src().Inspect(ctx, names)
}
func (s *switchingKeys) Value(ctx context.Context, row ui.KeyRow, view ui.ValueView, cursor string) (ui.ValuePage, error) {
	return s.src().Value(ctx, row, view, cursor)
}
func (s *switchingKeys) SetTTL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	return s.src().SetTTL(ctx, key, ttl)
}
func (s *switchingKeys) Persist(ctx context.Context, key string) (string, error) {
	return s.src().Persist(ctx, key)
}
func (s *switchingKeys) Delete(ctx context.Context, key string) (string, error) {
	return s.src().Delete(ctx, key)
}
func (s *switchingKeys) ParseTTL(v string) (time.Duration, error)     { return s.src().ParseTTL(v) }
func (s *switchingKeys) Caps(ctx context.Context) (ui.KeyCaps, error) { return s.src().Caps(ctx) }
func (s *switchingKeys) DetectPrefix(sample []string) string          { return s.src().DetectPrefix(sample) }
func (s *switchingKeys) Escape(v string) string                       { return s.src().Escape(v) }
func (s *switchingKeys) ValidatePattern(p string) error               { return s.src().ValidatePattern(p) }
func (s *switchingKeys) StartPreview(ctx context.Context, pattern string) (ui.BulkJob, error) {
	return s.src().StartPreview(ctx, pattern)
}
func (s *switchingKeys) StartBulk(ctx context.Context, req ui.BulkRequest) (ui.BulkJob, error) {
	return s.src().StartBulk(ctx, req)
}
