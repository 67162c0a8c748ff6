package main

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/charmbracelet/x/ansi"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
	"redtop/internal/redisproc"
	"redtop/redisinfo"
	"redtop/ui"
)

// TestSentinelOnceJSON: redtop --sentinel … --master … --once --json
// reports the master's figures and the sentinel's view.
func TestSentinelOnceJSON(t *testing.T) {
	set := redisproc.SentinelSetForTest(t, 1)
	code, out, errOut := runArgs(t, "--sentinel", set.Sentinel.Addr(), "--master", "mymaster", "--once", "--json", "--interval", "200ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Role     string `json:"role"`
		Nodes    int    `json:"nodes"`
		Sentinel *struct {
			Name      string   `json:"name"`
			Sentinel  string   `json:"sentinel"`
			Master    string   `json:"master"`
			Flags     []string `json:"flags"`
			Quorum    int      `json:"quorum"`
			Sentinels int      `json:"sentinels"`
			Replicas  []struct {
				Addr       string `json:"addr"`
				LinkOK     bool   `json:"master_link_ok"`
				Status     string `json:"status"`
				LagSeconds *int   `json:"lag_seconds"`
			} `json:"replicas"`
		} `json:"sentinel"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	s := rep.Sentinel
	if s == nil {
		t.Fatalf("no sentinel view: %s", out)
	}
	if rep.Role != "master" || rep.Nodes != 1 || s.Name != "mymaster" || s.Master != set.Master.Addr() || s.Sentinel != set.Sentinel.Addr() ||
		!slices.Equal(s.Flags, []string{"master"}) || s.Quorum != 1 || s.Sentinels != 1 {
		t.Fatalf("report: %s", out)
	}
	if len(s.Replicas) != 1 || s.Replicas[0].Addr != set.Replicas[0].Addr() || !s.Replicas[0].LinkOK ||
		s.Replicas[0].Status != "online" || s.Replicas[0].LagSeconds == nil {
		t.Fatalf("replicas: %s", out)
	}

	code, out, errOut = runArgs(t, "--sentinel", set.Sentinel.Addr(), "--master", "mymaster", "--once", "--interval", "100ms")
	if code != 0 || !strings.Contains(out, "mymaster at "+set.Master.Addr()+" (master), quorum 1 of 1 sentinel(s)") {
		t.Fatalf("exit %d, text report:\n%s%s", code, out, errOut)
	}
}

// TestSentinelBadInput: each mistake is one line, exit 2 for flags that
// do not go together, 1 for what the sentinels answer.
func TestSentinelBadInput(t *testing.T) {
	free := "127.0.0.1:" + freePort(t)
	cases := []struct {
		name   string
		args   []string
		code   int
		want   string
		server bool // needs connect to go through Sentinel, and a sentinel
	}{
		{"master without sentinel", []string{"--master", "mymaster", "--once"}, 2, "--master goes with --sentinel", false},
		{"sentinel without master", []string{"--sentinel", free, "--once"}, 2, "--sentinel needs --master", false},
		{"sentinel with cluster", []string{"--sentinel", free, "--master", "mymaster", "-c", "--once"}, 2, "do not go together", false},
		{"unreachable sentinel", []string{"--sentinel", free, "--master", "mymaster", "--once"}, 1, "sentinel " + free + ": connection refused", false},
		{"unknown master", []string{"--master", "nosuch", "--once"}, 1, `no master named "nosuch"`, true},
	}
	var set *redisproc.SentinelSet
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.code == 1 {
			}
			args := c.args
			if c.server {
				if set == nil {
					set = redisproc.SentinelSetForTest(t, 0)
				}
				args = append([]string{"--sentinel", set.Sentinel.Addr()}, args...)
			}
			code, out, errOut := runArgs(t, args...)
			if code != c.code || out != "" {
				t.Fatalf("exit %d (want %d), stdout %q, stderr %q", code, c.code, out, errOut)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "redtop: ") || !strings.Contains(lines[0], c.want) {
				t.Fatalf("stderr %q, want one line with %q", errOut, c.want)
			}
		})
	}
}

// TestSentinelFollowsFailover builds the App as main does, polls, forces a
// failover and checks redtop moves to the new master: the poller, the
// target and reading client, the hooks, an event, and data that keeps
// flowing.
func TestSentinelFollowsFailover(t *testing.T) {
	set := redisproc.SentinelSetForTest(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	target := targetFor(t, "--sentinel", set.Sentinel.Addr(), "--master", "mymaster", "-n", "3", "--timeout", "1s")
	app, err := connect(ctx, target, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	old, replica := set.Master.Addr(), set.Replicas[0].Addr()
	if app.target().Addr != old || app.client() != app.Client {
		t.Fatalf("connected to %s, want %s", app.target().Addr, old)
	}
	if got, want := app.targetLabel(), "mymaster via sentinel "+set.Sentinel.Addr(); got != want {
		t.Errorf("label %q, want %q", got, want)
	}
	app.Model(ctx) // the panes' sources register their own hooks
	var hooked []string
	app.onMasterSwitch(func(t conn.Target, c *redis.Client) { hooked = append(hooked, t.Addr+" db"+strconv.Itoa(t.DB)) })

	tr := redisinfo.NewTracker(60)
	snap := tr.Add(app.Poller.Poll(ctx))
	if snap.Sentinel == nil || snap.Sentinel.Master != old || len(snap.Sentinel.Replicas) != 1 {
		t.Fatalf("sentinel view %+v", snap.Sentinel)
	}

	admin := redis.NewClient(&redis.Options{Addr: set.Sentinel.Addr(), Protocol: 2, DisableIdentity: true})
	defer admin.Close()
	start := time.Now()
	if err := admin.Do(ctx, "sentinel", "failover", "mymaster").Err(); err != nil {
		t.Fatal(err)
	}
	for app.target().Addr != replica {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("still on %s", app.target().Addr)
		}
		time.Sleep(app.Interval)
		snap = tr.Add(app.Poller.Poll(ctx))
	}
	t.Logf("on the new master %v after SENTINEL FAILOVER", time.Since(start).Round(time.Millisecond))
	if !slices.Equal(hooked, []string{replica + " db3"}) {
		t.Errorf("hooks saw %v", hooked)
	}
	if err := app.Client.Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("the old reading client is still open: %v", err)
	}
	if c := app.client(); c == app.Client || c.Options().Addr != replica || c.Options().DB != 3 {
		t.Errorf("reading client on %s db %d", c.Options().Addr, c.Options().DB)
	}
	// The panes' default node moved too: CLIENT LIST and PING reach the
	// new master.
	if _, err := app.activity.Clients(ctx, ""); err != nil {
		t.Fatalf("clients after the failover: %v", err)
	}
	if _, err := app.activity.Ping(ctx, ""); err != nil {
		t.Fatalf("ping after the failover: %v", err)
	}
	if nc := app.activity.at(""); nc.addr != replica || nc.reader != app.client() {
		t.Errorf("the panes read from %s, want %s", nc.addr, replica)
	}
	var found bool
	for _, e := range snap.Events {
		found = found || e.Text == "mymaster failed over: "+old+" → "+replica+" (sentinel "+set.Sentinel.Addr()+")"
	}
	if !found {
		t.Fatalf("no failover event in %+v", snap.Events)
	}

	// Writes to the new master show up as ops, with no errors on the way.
	writer := redis.NewClient(&redis.Options{Addr: replica, DB: 3, Protocol: 2, DisableIdentity: true})
	defer writer.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for i := range 100 {
			if err := writer.Set(ctx, "k"+strconv.Itoa(i), "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(app.Interval)
		samples := app.Poller.Poll(ctx)
		for _, s := range samples {
			if s.Err != nil {
				t.Fatalf("%s: %v", s.Node, conn.Explain(s.Err, app.target()))
			}
		}
		snap = tr.Add(samples)
		if snap.Last.Ops >= 100 && snap.Keyspace[3].Keys == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no data from the new master: %.0f ops/s, keyspace %+v", snap.Last.Ops, snap.Keyspace)
		}
	}
	// The key browser moved too: a new scan lists the new master's keys,
	// a scan that spans the failover says so.
	page, err := app.switching.ScanPage(ctx, 0, "k*", "", false)
	for err == nil && !page.Done {
		var next ui.ScanPage
		next, err = app.switching.ScanPage(ctx, page.Cursor, "k*", "", false)
		next.Keys = append(page.Keys, next.Keys...)
		page = next
	}
	if err != nil || len(page.Keys) != 100 {
		t.Errorf("browser after the failover: %d keys, %v", len(page.Keys), err)
	}
	if _, err := app.switching.ScanPage(ctx, 17, "*", "", false); err == nil || !strings.Contains(err.Error(), "failover") {
		t.Errorf("a cursor from before the failover: %v", err)
	}
	if snap.Sentinel.Master != replica || snap.Replication.Role != "master" {
		t.Errorf("sentinel says %s, role %s", snap.Sentinel.Master, snap.Replication.Role)
	}
}

// TestSentinelDashboardFollowsFailover drives the dashboard itself, through
// main's wiring, across a forced Sentinel failover: the event shows on the
// screen, the server box names the new master, and the panes read it.
func TestSentinelDashboardFollowsFailover(t *testing.T) {
	set := redisproc.SentinelSetForTest(t, 1)
	target := targetFor(t, "--sentinel", set.Sentinel.Addr(), "--master", "mymaster", "--timeout", "1s")
	// A poll a second: the driver settles between polls.
	d, app := startTarget(t, target, time.Second, 120, 40)
	old, replica := set.Master.Addr(), set.Replicas[0].Addr()
	d.expect("mymaster via sentinel "+set.Sentinel.Addr(), "sentinel mymaster", replica)

	admin := redis.NewClient(&redis.Options{Addr: set.Sentinel.Addr(), Protocol: 2, DisableIdentity: true})
	defer admin.Close()
	if err := admin.Do(context.Background(), "sentinel", "failover", "mymaster").Err(); err != nil {
		t.Fatal(err)
	}
	event := "mymaster failed over: " + old + " → " + replica
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(ansi.Strip(d.screen()), event); d.settle() {
		if time.Now().After(deadline) {
			t.Fatalf("no failover on screen:\n%s", ansi.Strip(d.screen()))
		}
	}
	if app.target().Addr != replica {
		t.Fatalf("polling %s, want %s", app.target().Addr, replica)
	}
	d.pane("clients")
	d.settle()
	if nc := app.activity.at(""); nc.addr != replica {
		t.Fatalf("the clients pane reads %s, want %s", nc.addr, replica)
	}
	d.expect("Clients · ", "connected")
	if s := ansi.Strip(d.screen()); strings.Contains(s, "✖") {
		t.Fatalf("an error on the clients pane after the failover:\n%s", s)
	}
}
