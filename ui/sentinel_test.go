package ui

import (
	"errors"
	"strings"
	"testing"
	"time"

	"redtop/redisinfo"
)

// TestSentinelView: through Sentinel the server box shows the sentinel's
// view of the master and its replicas, and the latest failover stays
// there after the status line has moved on.
func TestSentinelView(t *testing.T) {
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		m, c := newTestModel(t, size[0], size[1])
		in := loadInfo(t, "info-1.txt")
		sn := &redisinfo.SentinelInfo{At: c.now(), Name: "mymaster", Sentinel: "127.0.0.1:26379", Master: "127.0.0.1:6381",
			Flags: []string{"master"}, ConfigEpoch: 4, Quorum: 2, Sentinels: 3,
			Replicas: []redisinfo.SentinelReplica{{Addr: "127.0.0.1:6380", Flags: []string{"slave"}, LinkOK: true, State: "online", Lag: time.Second}}}
		poll := func(sn *redisinfo.SentinelInfo, ev ...redisinfo.Event) {
			m.Update(polledMsg{gen: m.gen, samples: []redisinfo.NodeSample{{Node: "127.0.0.1:6381", At: c.now(), Info: in, Sentinel: sn, Events: ev}}})
		}
		poll(sn, redisinfo.Event{At: c.now(), Level: redisinfo.Warn, Text: "mymaster failed over: 127.0.0.1:6380 → 127.0.0.1:6381 (sentinel 127.0.0.1:26379)"})
		c.t = c.t.Add(30 * time.Second)
		poll(sn)
		s := screen(m)
		want := []string{"sentinel mymaster ✔ ok · quorum 2 of…", "! 30s ago mymaster failed over: 127.…"}
		stale := "sentinel mymaster ✖ no answer · view…"
		if size[0] >= 120 {
			want = []string{"sentinel mymaster ✔ ok · quorum 2 of 3 · epoch 4", "replicas 127.0.0.1:6380 online lag 1s",
				"! 30s ago mymaster failed over: 127.0.0.1:6380 → 127.0.0…"}
			stale = "sentinel mymaster ✖ no answer · view 12s old"
		}
		for _, w := range want {
			if !strings.Contains(s, w) {
				t.Errorf("%dx%d: no %q in\n%s", size[0], size[1], w, s)
			}
		}

		down := *sn
		down.Err, down.At = errors.New("refused"), c.now()
		c.t = c.t.Add(12 * time.Second)
		poll(&down)
		if s := screen(m); !strings.Contains(s, stale) {
			t.Errorf("%dx%d: no stale view in\n%s", size[0], size[1], s)
		}
	}
}
