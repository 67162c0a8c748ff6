package ui

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"redtop/redisinfo"
)

// fakeCluster is three masters, each with a replica, on 127.0.0.1:30001-6.
// The third replica's link is down and suspected failing; the second
// master is near its maxmemory.
type fakeCluster struct {
	views []*redisinfo.ClusterNode
	round int
}

func newFakeCluster() *fakeCluster {
	f := &fakeCluster{}
	slots := []int{5461, 5462, 5461}
	for i := range 6 {
		v := &redisinfo.ClusterNode{ID: fmt.Sprintf("id%d", i), Addr: fmt.Sprintf("127.0.0.1:%d", 30001+i), Role: "master", LinkState: "connected"}
		if i < 3 {
			v.SlotCount = slots[i]
		} else {
			v.Role, v.MasterID = "replica", fmt.Sprintf("id%d", i-3)
		}
		f.views = append(f.views, v)
	}
	f.views[5].LinkState, f.views[5].Flags = "disconnected", []string{"pfail"}
	return f
}

// nodeInfo is INFO as a cluster node prints it, with counters that grow
// by ops per round.
func nodeInfo(i int, role string, round int) redisinfo.Info {
	keys := []int64{3400, 3300, 3300}[i%3]
	used := int64(2<<20 + i*100000)
	maxmem := int64(0)
	if i == 1 {
		used, maxmem = 60<<20, 64<<20
	}
	ops := int64(100 * (i + 1) * round)
	if role == "slave" {
		ops = int64(40 * round) // replicated writes
	}
	return redisinfo.Parse(strings.Join([]string{
		"redis_version:7.2.4", "redis_mode:cluster", "cluster_enabled:1", "uptime_in_seconds:7200",
		"run_id:run" + fmt.Sprint(i), "role:" + role,
		fmt.Sprintf("used_memory:%d", used), fmt.Sprintf("maxmemory:%d", maxmem), "maxmemory_policy:allkeys-lru",
		fmt.Sprintf("connected_clients:%d", 10+i), "maxclients:10000",
		fmt.Sprintf("total_commands_processed:%d", ops),
		fmt.Sprintf("keyspace_hits:%d", ops*9/10), fmt.Sprintf("keyspace_misses:%d", ops/10),
		fmt.Sprintf("db0:keys=%d,expires=0,avg_ttl=0", keys),
		fmt.Sprintf("connected_slaves:%d", map[bool]int{true: 1}[role == "master"]),
		"master_host:127.0.0.1", fmt.Sprintf("master_port:%d", 30001+i%3), "master_link_status:up",
		"rdb_last_bgsave_status:ok", "aof_enabled:0", "",
	}, "\r\n"))
}

// poll is one round at the clock's time; events ride on the first sample.
func (f *fakeCluster) poll(at time.Time, events ...redisinfo.Event) polledMsg {
	f.round++
	var out []redisinfo.NodeSample
	for i, v := range f.views {
		role := "master"
		if v.Role == "replica" {
			role = "slave"
		}
		out = append(out, redisinfo.NodeSample{Node: v.Addr, At: at, RTT: time.Duration(200+i*10) * time.Microsecond,
			Info: nodeInfo(i, role, f.round), ClusterNode: v})
	}
	out[0].Cluster = &redisinfo.ClusterInfo{State: "ok", SlotsAssigned: 16384, SlotsOK: 16384, KnownNodes: 6, Size: 3}
	out[0].Events = events
	return polledMsg{samples: out}
}

// onCluster is a model that has seen two rounds of the fake cluster, a
// second apart, the second with one event.
func onCluster(t *testing.T, w, h int, a *fakeActivity) (*Model, *clock, *fakeCluster) {
	t.Helper()
	c := &clock{t: t0}
	cfg := Config{Source: noSource{}, Target: "cluster via 127.0.0.1:30001", Interval: time.Second, Now: c.now, Seed: "127.0.0.1:30001", Glob: globMatch}
	if a != nil {
		cfg.Activity = a
	}
	m := New(context.Background(), cfg)
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	f := newFakeCluster()
	m.Update(f.poll(c.now()))
	c.t = c.t.Add(time.Second)
	m.Update(f.poll(c.now(), redisinfo.Event{At: c.now().Add(-3 * time.Second), Level: redisinfo.OK, Text: "127.0.0.1:30007 joined as replica"}))
	c.t = c.t.Add(2 * time.Second)
	return m, c, f
}

func TestGoldenClusterOverview(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		t.Run(fmt.Sprintf("%03dx%03d", size[0], size[1]), func(t *testing.T) {
			m, _, _ := onCluster(t, size[0], size[1], nil)
			m.status.text = "" // the event's status line is tested apart
			golden.RequireEqual(t, []byte(screen(m)))
		})
	}
	t.Run("node-120x040", func(t *testing.T) {
		m, _, _ := onCluster(t, 120, 40, nil)
		press(t, m, "n", "j", "j", "j", "enter")
		m.status.text = ""
		golden.RequireEqual(t, []byte(screen(m)))
	})
}

// TestClusterOverviewSumsAndTable: the boxes add up the masters; every node
// is in the table with its role, slots and link in words.
func TestClusterOverviewSumsAndTable(t *testing.T) {
	m, _, _ := onCluster(t, 120, 40, nil)
	s := screen(m)
	if got := m.Snapshot().Keyspace[0].Keys; got != 10000 {
		t.Errorf("keys %d, want 10,000 (the masters')", got)
	}
	for _, want := range []string{
		"Nodes · 3 masters, 3 replicas · sums over masters", "cluster ok · slots 16,384 ok",
		"127.0.0.1:30001 master  5,461", "127.0.0.1:30004 replica", "connected", "? pfail", "60MiB crit",
		"joined as replica",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("screen lacks %q:\n%s", want, s)
		}
	}
}

// TestClusterTableFitsAndScrolls: at every width the table fits; at 80x24
// six nodes scroll under the cursor.
func TestClusterTableFitsAndScrolls(t *testing.T) {
	for _, w := range []int{minWidth, 67, 80, 99, 120, 150} {
		for _, h := range []int{minHeight, 24, 41} {
			m, _, _ := onCluster(t, w, h, &fakeActivity{})
			for _, keys := range [][]string{nil, {"n"}, {"j", "j", "j", "j", "j"}, {"enter"}, {"3"}, {"4"}, {"5"}, {"1", "esc"}} {
				press(t, m, keys...)
				lines := strings.Split(m.View().Content, "\n")
				if len(lines) != h {
					t.Fatalf("%dx%d after %v: %d lines", w, h, keys, len(lines))
				}
				for i, l := range lines {
					if lw := lipgloss.Width(l); lw > w {
						t.Fatalf("%dx%d after %v: line %d is %d wide: %q", w, h, keys, i, lw, ansi.Strip(l))
					}
				}
			}
		}
	}
	m, _, _ := onCluster(t, 80, 24, nil)
	if s := screen(m); !strings.Contains(s, "1-3 of 6") || !strings.Contains(s, "127.0.0.1:30001") || strings.Contains(s, "127.0.0.1:30006") {
		t.Fatalf("80x24 table:\n%s", s)
	}
	press(t, m, "n", "j", "j", "j", "j", "j")
	if s := screen(m); !strings.Contains(s, "4-6 of 6") || !strings.Contains(s, "›127.0.0.1:30006") || !strings.Contains(s, "? pfail") {
		t.Fatalf("after moving down:\n%s", s)
	}
	m.status.text = ""
	if s := screen(m); !strings.Contains(s, "enter show that node") {
		t.Errorf("the help does not say how to open the node:\n%s", s)
	}
}

// TestPickANode: enter shows the node's own figures, the top bar names it,
// the activity panes ask that node and name it; esc goes back.
func TestPickANode(t *testing.T) {
	a := &fakeActivity{clients: []ClientRow{{ID: 9, Name: "only-on-30005", Addr: "10.0.0.9:5"}}}
	m, c, f := onCluster(t, 120, 40, a)
	press(t, m, "n", "j", "j", "j", "j", "enter") // 127.0.0.1:30005, a replica
	if m.Node() != "127.0.0.1:30005" {
		t.Fatalf("node %q", m.Node())
	}
	c.t = c.t.Add(time.Second)
	m.Update(f.poll(c.now()))
	s := screen(m)
	top, _, _ := strings.Cut(s, "\n")
	if !strings.Contains(top, "node 127.0.0.1:30005") {
		t.Errorf("top bar does not name the node: %q", top)
	}
	for _, want := range []string{"▶ 127.0.0.1:30005 · 3,300 keys · replica of 127.0.0.1:30002", "▶127.0.0.1:30005", "ops/s 13.3"} {
		if !strings.Contains(s, want) {
			t.Errorf("node view lacks %q:\n%s", want, s)
		}
	}
	if ns := m.overview.data(); ns.Keyspace[0].Keys != 3300 || ns.Replication.Role != "slave" {
		t.Errorf("node view figures: keys %d role %q", ns.Keyspace[0].Keys, ns.Replication.Role)
	}
	press(t, m, "2") // no keys pane in this model: 2 is clients
	if s := screen(m); !strings.Contains(s, "Clients · 127.0.0.1:30005 · 1 connected") || !strings.Contains(s, "only-on-30005") {
		t.Errorf("clients pane:\n%s", s)
	}
	press(t, m, "K")
	if s := screen(m); !strings.Contains(s, "on node 127.0.0.1:30005") {
		t.Errorf("kill confirmation does not name the node:\n%s", s)
	}
	press(t, m, "y", "3", "4", "s")
	if s := screen(m); !strings.Contains(s, "runs on node 127.0.0.1:30005 only") {
		t.Errorf("MONITOR warning does not name the node:\n%s", s)
	}
	press(t, m, "y")
	a.mu.Lock()
	calls := strings.Join(a.calls, ",")
	a.mu.Unlock()
	for _, want := range []string{"Clients 127.0.0.1:30005", "KillClient 127.0.0.1:30005", "Slowlog 127.0.0.1:30005", "LatencyEvents 127.0.0.1:30005", "Monitor 127.0.0.1:30005"} {
		if !strings.Contains(calls, want) {
			t.Errorf("no %q in %s", want, calls)
		}
	}
	// Back to the cluster-wide view: MONITOR stays on its node, and says so.
	press(t, m, "1", "esc")
	if m.Node() != "" || strings.Contains(strings.SplitN(screen(m), "\n", 2)[0], "node ") {
		t.Fatalf("esc did not go back to the cluster-wide view:\n%s", screen(m))
	}
	press(t, m, "4")
	if s := screen(m); !strings.Contains(s, "on 127.0.0.1:30005") || !strings.Contains(s, "running on 127.0.0.1:30005, not on 127.0.0.1:30001") {
		t.Errorf("MONITOR does not say where it runs:\n%s", s)
	}
}

// TestPingFollowsTheNode: a PING reply from the node shown before is not
// recorded, and the loop goes on.
func TestPingFollowsTheNode(t *testing.T) {
	m, c, _ := onCluster(t, 120, 40, &fakeActivity{})
	m.Update(pingMsg{rtt: 900 * time.Microsecond, at: c.now()})
	press(t, m, "n", "j", "enter")
	if len(m.latency.rtt) != 0 {
		t.Fatal("the latency window of the node shown before was kept")
	}
	_, cmd := m.Update(pingMsg{node: "", rtt: 800 * time.Microsecond, at: c.now()})
	if len(m.latency.rtt) != 0 || cmd == nil {
		t.Fatalf("a reply from the previous node was recorded (%v), or the loop stopped", m.latency.rtt)
	}
	m.Update(pingMsg{node: "127.0.0.1:30002", rtt: 300 * time.Microsecond, at: c.now()})
	if len(m.latency.rtt) != 1 {
		t.Fatal("the node's reply was not recorded")
	}
}

// TestEventsShowOnTheStatusLineAndInTheOverview: a failover event is on the
// status line with its level, in words and symbols, and listed with its
// age; NO_COLOR loses nothing (the symbols and words are text).
func TestEventsShowOnTheStatusLineAndInTheOverview(t *testing.T) {
	m, c, f := onCluster(t, 120, 40, nil)
	c.t = c.t.Add(time.Second)
	m.Update(f.poll(c.now(),
		redisinfo.Event{At: c.now(), Level: redisinfo.Warn, Text: "127.0.0.1:30004 is now master (was replica): failover"},
		redisinfo.Event{At: c.now(), Level: redisinfo.Warn, Text: "127.0.0.1:30001 is now replica (was master): failover"}))
	s := screen(m)
	lines := strings.Split(s, "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "! 127.0.0.1:30001 is now replica (was master): failover (+1 more in the overview)") {
		t.Errorf("status line %q", last)
	}
	for _, want := range []string{"! now 127.0.0.1:30001 is now replica", "! now 127.0.0.1:30004 is now master", "✔ 6s ago 127.0.0.1:30007 joined"} {
		if !strings.Contains(s, want) {
			t.Errorf("overview lacks %q:\n%s", want, s)
		}
	}
	c.t = c.t.Add(20 * time.Second)
	m.Update(clearStatusMsg{seq: m.status.seq})
	if s := screen(m); !strings.Contains(s, "! 20s ago 127.0.0.1:30001") {
		t.Errorf("event age does not move:\n%s", s)
	}
}

// TestNodeThatLeftGoesBackToTheCluster: the node shown leaves the poll:
// the overview goes back to the cluster-wide view, and says why.
func TestNodeThatLeftGoesBackToTheCluster(t *testing.T) {
	m, c, f := onCluster(t, 120, 40, nil)
	press(t, m, "n", "j", "j", "j", "j", "j", "enter")
	f.views = f.views[:5]
	c.t = c.t.Add(time.Second)
	m.Update(f.poll(c.now()))
	if m.Node() != "" || !strings.Contains(screen(m), "127.0.0.1:30006 is no longer polled") {
		t.Fatalf("node %q:\n%s", m.Node(), screen(m))
	}
}

// TestClusterNoColor: with NO_COLOR the nodes table, the link states and
// the events keep their words and symbols.
func TestClusterNoColor(t *testing.T) {
	m, c, f := onCluster(t, 120, 40, nil)
	c.t = c.t.Add(time.Second)
	m.Update(f.poll(c.now(), redisinfo.Event{At: c.now(), Level: redisinfo.Crit, Text: "127.0.0.1:30003 (master) failed"}))
	var b strings.Builder
	w := &colorprofile.Writer{Forward: &b, Profile: colorprofile.Env([]string{"TERM=xterm-256color", "NO_COLOR=1"})}
	w.WriteString(m.View().Content)
	if got := colours([]byte(b.String())); len(got) > 0 {
		t.Fatalf("colour with NO_COLOR: %q", got[:min(3, len(got))])
	}
	out := ansi.Strip(b.String())
	for _, want := range []string{"? pfail", "60MiB crit", "connected", "✖ now 127.0.0.1:30003 (master) failed", "✖ 127.0.0.1:30003 (master) failed", "cluster ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("NO_COLOR screen lacks %q:\n%s", want, out)
		}
	}
}
