package main

import (
	"context"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
	"redtop/redisinfo"
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
