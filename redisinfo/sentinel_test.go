package redisinfo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
	"redtop/internal/redisproc"
)

// sentinelCapture reads a redis-cli --json capture: one field map, or a
// list of them (see testdata/sentinel_README.md).
func sentinelCapture(t *testing.T, name string) []map[string]string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]string
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		var one map[string]string
		err = json.Unmarshal(b, &one)
		list = append(list, one)
	} else {
		err = json.Unmarshal(b, &list)
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return list
}

func TestParseSentinelCaptures(t *testing.T) {
	cases := []struct {
		master, replicas string
		check            func(t *testing.T, s SentinelInfo)
	}{
		{"sentinel_master.json", "sentinel_replicas.json", func(t *testing.T, s SentinelInfo) {
			if s.Name != "mymaster" || s.Master != "127.0.0.1:16381" || !slices.Equal(s.Flags, []string{"master"}) {
				t.Errorf("master %q at %s flags %v", s.Name, s.Master, s.Flags)
			}
			if s.Quorum != 1 || s.Sentinels != 1 || s.NumReplicas != 1 || s.ConfigEpoch != 1 || s.DownAfter != time.Second {
				t.Errorf("quorum %d sentinels %d replicas %d epoch %d down-after %v", s.Quorum, s.Sentinels, s.NumReplicas, s.ConfigEpoch, s.DownAfter)
			}
			r := s.Replicas[0]
			if r.Addr != "127.0.0.1:16380" || !r.LinkOK || r.Priority != 100 || r.Level() != OK {
				t.Errorf("replica %+v", r)
			}
			if s.Down() || s.FailingOver() || s.FailoverState != "" || s.Level() != OK || s.Status() != "ok" {
				t.Errorf("down %v failing over %v (%q) level %v", s.Down(), s.FailingOver(), s.FailoverState, s.Level())
			}
		}},
		{"sentinel_master_failover.json", "sentinel_replicas_failover.json", func(t *testing.T, s SentinelInfo) {
			if !s.FailingOver() || s.FailoverState != "send_slaveof_noone" || s.Level() != Warn || s.Status() != "failing over (send_slaveof_noone)" {
				t.Errorf("failing over %v state %q level %v", s.FailingOver(), s.FailoverState, s.Level())
			}
			if s.Master != "127.0.0.1:16381" {
				t.Errorf("during the failover the address is still the old master's, got %s", s.Master)
			}
			if r := s.Replicas[0]; !slices.Equal(r.Flags, []string{"slave", "promoted"}) {
				t.Errorf("promoted replica flags %v", r.Flags)
			}
		}},
		{"sentinel_master_switched.json", "", func(t *testing.T, s SentinelInfo) {
			if s.Master != "127.0.0.1:16380" || s.ConfigEpoch != 2 || s.Level() != OK {
				t.Errorf("switched: %s epoch %d level %v", s.Master, s.ConfigEpoch, s.Level())
			}
		}},
		{"sentinel_master_odown.json", "sentinel_replicas_odown.json", func(t *testing.T, s SentinelInfo) {
			if !s.Down() || !s.HasFlag("o_down") || !s.HasFlag("disconnected") || s.Level() != Crit || s.Status() != "down (o_down)" {
				t.Errorf("flags %v level %v", s.Flags, s.Level())
			}
			r := s.Replicas[0]
			if r.LinkOK || r.Priority != 0 || r.Level() != Warn || r.Status() != "link down" {
				t.Errorf("replica of a dead master: %+v level %v", r, r.Level())
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.master, func(t *testing.T) {
			s := ParseSentinelMaster(sentinelCapture(t, c.master)[0])
			if c.replicas != "" {
				s.Replicas = ParseSentinelReplicas(sentinelCapture(t, c.replicas))
				if len(s.Replicas) != 1 {
					t.Fatalf("replicas %+v", s.Replicas)
				}
			}
			c.check(t, s)
		})
	}
}

// RESP2 (what redtop speaks) gives the same fields as a flat array.
func TestSentinelPairsRESP2(t *testing.T) {
	want := sentinelCapture(t, "sentinel_master.json")[0]
	var flat []any
	for k, v := range want {
		flat = append(flat, k, v)
	}
	if got := conn.Pairs(flat); !maps.Equal(got, want) {
		t.Fatalf("Pairs(flat) = %v", got)
	}
}

// The replicas' lag comes from the master's INFO of the same poll.
func TestSentinelReplicaLagFromInfo(t *testing.T) {
	in := capture(t, "redis7-master.txt") // slave0:ip=127.0.0.1,port=33253,…,offset=699466,lag=1
	s := SentinelInfo{Replicas: []SentinelReplica{{Addr: "127.0.0.1:33253"}, {Addr: "127.0.0.1:1"}}}
	s.addReplication(in)
	if r := s.Replicas[0]; r.State != "online" || r.Lag != time.Second || r.OffsetLag != 736325-699466 {
		t.Errorf("replica 0: %+v", r)
	}
	if r := s.Replicas[1]; r.State != "" {
		t.Errorf("a replica the master does not list got %+v", r)
	}
	rep := s.report()
	if rep.Replicas[0].LagSeconds == nil || *rep.Replicas[0].LagSeconds != 1 || rep.Replicas[1].LagSeconds != nil {
		t.Errorf("report %+v", rep.Replicas)
	}
}

// The watcher's events: one per change, not one per poll.
func TestSentinelWatcherEvents(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	w := &SentinelWatcher{now: func() time.Time { return at },
		target: conn.Target{Addr: "127.0.0.1:16381", Sentinel: &conn.Sentinel{Master: "mymaster", Addrs: []string{"s1:26379", "s2:26379"}}},
		order:  []string{"s1:26379", "s2:26379"}, clients: map[string]*redis.Client{}}
	view := func(name string, sentinel string) *SentinelInfo {
		s := ParseSentinelMaster(sentinelCapture(t, name)[0])
		s.At, s.Sentinel = at, sentinel
		return &s
	}
	epoch := func(s *SentinelInfo, e int64) *SentinelInfo { s.ConfigEpoch = e; return s }
	texts := func(evs []Event) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e.Level.String()+": "+e.Text)
		}
		return out
	}
	steps := []struct {
		name   string
		view   *SentinelInfo // nil: no sentinel answered
		events []string
		moved  string
	}{
		{"up", view("sentinel_master.json", "s1:26379"), nil, ""},
		{"still up", view("sentinel_master.json", "s1:26379"), nil, ""},
		{"failing over: no event, the address has not moved", view("sentinel_master_failover.json", "s1:26379"), nil, ""},
		{"switched", view("sentinel_master_switched.json", "s1:26379"),
			[]string{"warn: mymaster failed over: 127.0.0.1:16381 → 127.0.0.1:16380 (sentinel s1:26379)"}, "127.0.0.1:16380"},
		{"a sentinel with an older epoch is not followed", view("sentinel_master.json", "s2:26379"), nil, ""},
		{"no sentinel answers", nil, []string{"warn: no sentinel answered for mymaster: boom"}, ""},
		{"still none: no second event", nil, nil, ""},
		{"back, master down", view("sentinel_master_odown.json", "s2:26379"),
			[]string{"ok: sentinel s2:26379 answers again for mymaster", "crit: mymaster is down: the sentinels agree (o_down, sentinel s2:26379)"}, ""},
		{"up again", view("sentinel_master_switched.json", "s2:26379"), []string{"ok: mymaster is up again for sentinel s2:26379"}, ""},
		{"down again", view("sentinel_master_odown.json", "s2:26379"),
			[]string{"crit: mymaster is down: the sentinels agree (o_down, sentinel s2:26379)"}, ""},
		{"failed over from a dead master: no 'up again' besides", epoch(view("sentinel_master.json", "s2:26379"), 3),
			[]string{"warn: mymaster failed over: 127.0.0.1:16380 → 127.0.0.1:16381 (sentinel s2:26379)"}, "127.0.0.1:16381"},
	}
	current := w.target.Addr
	for _, st := range steps {
		var (
			got   *SentinelInfo
			evs   []Event
			moved string
		)
		if st.view == nil {
			got, evs, moved = w.failed(errors.New("no sentinel answered for mymaster: boom"))
			if got.Err == nil || got.Master == "" {
				t.Errorf("%s: a failed fetch should keep the last view with the error: %+v", st.name, got)
			}
		} else {
			got, evs, moved = w.update(st.view, current)
		}
		if !slices.Equal(texts(evs), st.events) || moved != st.moved {
			t.Errorf("%s: events %q moved %q, want %q %q", st.name, texts(evs), moved, st.events, st.moved)
		}
		if moved != "" {
			current = moved
		}
		_ = got
	}
	if w.order[0] != "s2:26379" {
		t.Errorf("the sentinel that answered last is not asked first: %v", w.order)
	}
}

// TestSentinelFollowsFailover polls a master through its sentinel, forces
// a failover (or kills the master), and checks the poller moves to the new
// master with one event and keeps measuring.
func TestSentinelFollowsFailover(t *testing.T) {
	t.Run("forced", func(t *testing.T) { followFailover(t, false) })
	t.Run("master killed", func(t *testing.T) { followFailover(t, true) })
}

func followFailover(t *testing.T, crash bool) {
	set := redisproc.SentinelSetForTest(t, 1)
	ctx := context.Background()
	target := conn.Target{Network: "tcp", Addr: set.Master.Addr(), Timeout: time.Second,
		Sentinel: &conn.Sentinel{Master: "mymaster", Addrs: []string{"127.0.0.1:" + strconv.Itoa(redisproc.FreePort(t)), set.Sentinel.Addr()}}}
	first := redis.NewClient(target.Options())
	p := NewPoller([]Node{{Addr: target.Addr, Client: first}}, NewLedger(), time.Second)
	defer p.Close()
	w := NewSentinelWatcher(target)
	var switched []string
	w.OnSwitch(func(t conn.Target, c *redis.Client) { switched = append(switched, t.Addr) })
	p.WatchSentinel(w)
	tr := NewTracker(60)

	s := p.Poll(ctx)
	snap := tr.Add(s)
	si := snap.Sentinel
	if si == nil || si.Err != nil || si.Master != set.Master.Addr() || si.Sentinel != set.Sentinel.Addr() {
		t.Fatalf("sentinel view %+v", si)
	}
	if len(si.Replicas) != 1 || si.Replicas[0].Addr != set.Replicas[0].Addr() || si.Replicas[0].State != "online" || si.Level() != OK {
		t.Fatalf("replicas %+v level %v", si.Replicas, si.Level())
	}
	if got := w.order[0]; got != set.Sentinel.Addr() {
		t.Errorf("the sentinel that answered is not asked first next: %v", w.order)
	}

	admin := redis.NewClient(&redis.Options{Addr: set.Sentinel.Addr(), Protocol: 2, DisableIdentity: true})
	defer admin.Close()
	start := time.Now()
	if crash {
		set.Master.Kill()
	} else if err := admin.Do(ctx, "sentinel", "failover", "mymaster").Err(); err != nil {
		t.Fatal(err)
	}
	newAddr := set.Replicas[0].Addr()
	var events []Event
	for p.Nodes()[0].Addr != newAddr {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("still on %s; events %+v", p.Nodes()[0].Addr, events)
		}
		time.Sleep(200 * time.Millisecond)
		snap = tr.Add(p.Poll(ctx))
		events = snap.Events
	}
	t.Logf("on the new master %v after the failover started", time.Since(start).Round(time.Millisecond))
	if !slices.Equal(switched, []string{newAddr}) || w.Target().Addr != newAddr {
		t.Errorf("OnSwitch saw %v, Target %s", switched, w.Target().Addr)
	}
	if err := first.Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("the old master's client is still open: %v", err)
	}
	want := "mymaster failed over: " + set.Master.Addr() + " → " + newAddr + " (sentinel " + set.Sentinel.Addr() + ")"
	if n := len(events); n == 0 || events[n-1].Text != want || events[n-1].Level != Warn {
		t.Fatalf("events %+v, want last %q", events, want)
	}
	for _, e := range events {
		t.Logf("event: %s %s", e.Level, e.Text)
	}
	if crash && !slices.ContainsFunc(events, func(e Event) bool { return e.Level == Crit && strings.Contains(e.Text, "mymaster is down") }) {
		t.Errorf("no event for the master down: %+v", events)
	}

	// Data keeps flowing from the new master.
	writer := redis.NewClient(&redis.Options{Addr: newAddr, Protocol: 2, DisableIdentity: true})
	defer writer.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for i := range 200 {
			if err := writer.Set(ctx, "k"+strconv.Itoa(i), "v", 0).Err(); err != nil {
				t.Fatalf("write to the new master: %v", err)
			}
		}
		time.Sleep(100 * time.Millisecond)
		samples := p.Poll(ctx)
		for _, s := range samples {
			if s.Err != nil || s.Node != newAddr {
				t.Fatalf("sample after the switch: %s %v", s.Node, s.Err)
			}
		}
		snap = tr.Add(samples)
		if snap.Last.Ops >= 200 && snap.Sentinel.Master == newAddr && snap.Replication.Role == "master" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ops from the new master: last %.0f/s, sentinel %+v", snap.Last.Ops, snap.Sentinel)
		}
	}
	if len(snap.Nodes) != 1 || snap.Nodes[0].Addr != newAddr {
		t.Errorf("nodes %+v", snap.Nodes)
	}
}

// With every sentinel gone, the view stays with the error and its age.
func TestSentinelUnreachable(t *testing.T) {
	set := redisproc.SentinelSetForTest(t, 0)
	target := conn.Target{Network: "tcp", Addr: set.Master.Addr(), Timeout: 300 * time.Millisecond,
		Sentinel: &conn.Sentinel{Master: "mymaster", Addrs: []string{set.Sentinel.Addr()}}}
	w := NewSentinelWatcher(target)
	defer w.Close()
	ctx := context.Background()
	good, evs, _ := w.Fetch(ctx)
	if good.Err != nil || len(evs) != 0 {
		t.Fatalf("%v %+v", good.Err, evs)
	}
	set.Sentinel.Stop()
	bad, evs, moved := w.Fetch(ctx)
	if bad.Err == nil || bad.At != good.At || bad.Master != set.Master.Addr() || moved != "" {
		t.Fatalf("after the sentinel stopped: %+v", bad)
	}
	if len(evs) != 1 || evs[0].Level != Warn || !strings.Contains(evs[0].Text, "sentinel "+set.Sentinel.Addr()) {
		t.Fatalf("events %+v", evs)
	}
	if r := bad.report(); !strings.Contains(r.Error, "no sentinel answered for mymaster") || !strings.Contains(r.String(), r.Error) {
		t.Errorf("report %+v / %s", r, r)
	}
}

// TestSentinelDiscoversPeers: given one sentinel, the watcher learns the
// others watching the master (SENTINEL SENTINELS) and asks them when the
// one given stops answering.
func TestSentinelDiscoversPeers(t *testing.T) {
	set := redisproc.SentinelSetForTest(t, 0)
	other := redisproc.SentinelForTest(t, "mymaster", set.Master.Addr(), 1, redisproc.SentinelOptions{})
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: set.Sentinel.Addr(), Protocol: 2, DisableIdentity: true})
	defer admin.Close()
	// Sentinels find each other through the master's hello channel, every
	// 2 s.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		peers, err := admin.Do(ctx, "sentinel", "sentinels", "mymaster").Slice()
		if err == nil && len(peers) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sentinels did not meet: %v %v", peers, err)
		}
	}
	target := conn.Target{Network: "tcp", Addr: set.Master.Addr(), Timeout: 300 * time.Millisecond,
		Sentinel: &conn.Sentinel{Master: "mymaster", Addrs: []string{set.Sentinel.Addr()}}}
	w := NewSentinelWatcher(target)
	defer w.Close()
	si, _, _ := w.Fetch(ctx)
	if si.Err != nil || !slices.Equal(si.Known, []string{set.Sentinel.Addr(), other.Addr()}) {
		t.Fatalf("known sentinels %v, err %v", si.Known, si.Err)
	}
	if r := si.report(); !slices.Equal(r.Known, si.Known) {
		t.Errorf("report lists %v", r.Known)
	}
	set.Sentinel.Stop()
	si, evs, moved := w.Fetch(ctx)
	if si.Err != nil || si.Sentinel != other.Addr() || si.Master != set.Master.Addr() || moved != "" || len(evs) != 0 {
		t.Fatalf("with the sentinel given gone: %+v, events %+v", si, evs)
	}
}
