package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/redis/go-redis/v9"

	"redtop/internal/redisproc"
)

// monRules is the monitoring-only user (#6): read the data, see
// the clients, the slow log and the latency, nothing dangerous, no
// MONITOR. ACL rules apply in order, and INFO, CLIENT LIST, SLOWLOG and
// LATENCY are all @dangerous: written as in the issue, with -@dangerous
// last, it takes them away again and leaves a user who cannot even run
// INFO. -@dangerous goes first, so it removes what @read and @connection
// brought in (KEYS, CLIENT KILL, CLIENT PAUSE…) and the named commands
// are added back after it.
var monRules = []string{"on", ">mon-pw", "~*", "&*", "+@read", "+@connection", "-@dangerous",
	"+info", "+client|list", "+slowlog|get", "+latency"}

// aclServer starts a server with the monitoring user "mon", a user
// without writes "reader" (+@all -@write) and some keys, a slow log entry
// and latency monitoring on; it returns the admin client.
func aclServer(t *testing.T) (*redisproc.Server, *redis.Client) {
	t.Helper()
	srv := redisproc.ForTest(t, redisproc.Options{Args: []string{"--latency-monitor-threshold", "100"}})
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), DisableIdentity: true, Protocol: 2})
	t.Cleanup(func() { c.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(setUser(c, "mon", monRules...))
	must(setUser(c, "reader", "on", ">reader-pw", "~*", "&*", "+@all", "-@write"))
	pipe := c.Pipeline()
	for i := range 50 {
		pipe.Set(ctx, fmt.Sprintf("acl:user:%d", i), "v", time.Hour)
	}
	pipe.HSet(ctx, "acl:prefs", "theme", "dark")
	_, err := pipe.Exec(ctx)
	must(err)
	must(c.ConfigSet(ctx, "slowlog-log-slower-than", "0").Err())
	must(c.Set(ctx, "slow:key", "v", 0).Err())
	must(c.ConfigSet(ctx, "slowlog-log-slower-than", "1000000").Err())
	must(c.Do(ctx, "acl", "log", "reset").Err())
	return srv, c
}

// setUser runs ACL SETUSER name rules….
func setUser(c *redis.Client, name string, rules ...string) error {
	args := []any{"acl", "setuser", name}
	for _, r := range rules {
		args = append(args, r)
	}
	return c.Do(context.Background(), args...).Err()
}

// aclEntry is one ACL LOG entry: what was refused, to whom, how often.
type aclEntry struct {
	Reason, Object, User string
	Count                int64
}

func aclLog(t *testing.T, c *redis.Client) []aclEntry {
	t.Helper()
	v, err := c.Do(context.Background(), "acl", "log", "128").Slice()
	if err != nil {
		t.Fatal(err)
	}
	var out []aclEntry
	for _, e := range v {
		kv, _ := e.([]any)
		var en aclEntry
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			switch k {
			case "reason":
				en.Reason, _ = kv[i+1].(string)
			case "object":
				en.Object, _ = kv[i+1].(string)
			case "username":
				en.User, _ = kv[i+1].(string)
			case "count":
				en.Count, _ = kv[i+1].(int64)
			}
		}
		out = append(out, en)
	}
	return out
}

// wantACLLog checks the server's ACL LOG holds exactly the refusals want
// (object → count), and resets it.
func wantACLLog(t *testing.T, c *redis.Client, want map[string]int64) {
	t.Helper()
	got := map[string]int64{}
	for _, e := range aclLog(t, c) {
		got[e.Object] += e.Count
	}
	for obj, n := range got {
		if want[obj] != n {
			t.Errorf("ACL LOG: %s refused %d times, want %d (log %v)", obj, n, want[obj], got)
		}
	}
	for obj, n := range want {
		if got[obj] == 0 && n != 0 {
			t.Errorf("ACL LOG: no refusal of %s, want %d (log %v)", obj, n, got)
		}
	}
	if err := c.Do(context.Background(), "acl", "log", "reset").Err(); err != nil {
		t.Fatal(err)
	}
}

// TestACLMonitoringUser runs redtop as the monitoring-only user: the
// batch overview and the dashboard work, and so do the clients, slow log
// and latency panes and the key browser; MONITOR and writes are refused
// with the reason; the server's ACL LOG gets one entry per refused
// command, not one per poll.
func TestACLMonitoringUser(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	srv, admin := aclServer(t)
	port := strconv.Itoa(srv.Port)
	mon := []string{"-p", port, "--user", "mon", "-a", "mon-pw"}
	args := func(more ...string) []string { return append(append([]string{}, mon...), more...) }

	t.Run("the issue's rule order", func(t *testing.T) {
		// With -@dangerous last, INFO is gone: redtop says so in one line,
		// from the first refusal (main's cluster check): one ACL LOG entry.
		err := setUser(admin, "literal", "on", ">lit-pw", "~*", "&*", "+@read", "+@connection", "+info", "+client|list", "+slowlog|get", "+latency", "-@dangerous")
		if err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runArgs(t, "-p", port, "--user", "literal", "-a", "lit-pw", "--once")
		oneLine(t, "--once", code, out, errOut, "permission denied at literal@127.0.0.1:"+port, "'info'")
		wantACLLog(t, admin, map[string]int64{"info": 1})
	})

	t.Run("once json", func(t *testing.T) {
		code, out, errOut := runArgs(t, args("--once", "--json", "--interval", "200ms")...)
		if code != 0 || !strings.Contains(out, `"db0":{"keys":52`) {
			t.Fatalf("exit %d, stderr %q, stdout %s", code, errOut, out)
		}
		wantACLLog(t, admin, nil) // nothing refused
	})

	t.Run("dashboard", func(t *testing.T) {
		pumpLoad(t, admin, "acl:user:")
		o := overviewWithRates(t, targetFor(t, mon...))
		o.expect("mon@127.0.0.1:"+port, "● live", "ops/s", "lifetime", " ping ", "p50")
		if !regexp.MustCompile(`Hit rate[^\n]*\n│ 1s \d+\.\d%`).MatchString(ansi.Strip(o.screen())) {
			t.Errorf("no hit rate:\n%s", ansi.Strip(o.screen()))
		}
		d, _ := startTarget(t, targetFor(t, mon...), time.Minute, 120, 36)
		d.keys("3")
		d.expect("[clients]", "◆redtop", "mon")
		d.keys("4")
		d.expect("Slow log ·", "set slow:key v", "settings unknown: needs +config|get")
		// LATENCY LATEST answers without CONFIG GET: no events yet, and
		// whether monitoring is on is not known.
		d.expect("latency monitor: no events (threshold unknown: needs +config|get)")
		d.keys("1", "4", "R") // again: CONFIG GET is not asked again
		d.expect("Slow log ·", "set slow:key v", "threshold unknown: needs +config|get")

		d.keys("5")
		// ACL DRYRUN is @admin: the user cannot ask what it may do, so
		// MONITOR's refusal is learnt on the first try, said in the pane at
		// once, and remembered.
		d.expect("MONITOR · not running")
		d.keys("s", "y")
		d.expect("MONITOR: needs +monitor", "MONITOR is not available: needs +monitor")
		d.keys("1", "5")
		d.expect("MONITOR is not available: needs +monitor")
		d.keys("s")
		d.expect("MONITOR is not available: needs +monitor")

		// Writes are off before anything is tried: the write commands'
		// own refusals on a key that cannot exist said so.
		d.keys("2")
		d.expect("acl:", "slow:", "read-only: user mon lacks +unlink")
		d.keys("enter", "d")
		d.expect("read-only: user mon lacks")
		d.keys("q")
		wantACLLog(t, admin, map[string]int64{
			"acl|whoami": 1, // the activity panes' permission probe
			"acl|dryrun": 1, // the key browser's write probe: refused once, not asked again
			"unlink":     1, // … then the write commands themselves, on a key that cannot exist
			"pexpire":    1,
			"persist":    1,
			"config|get": 1, // the slow log and latency settings
			"monitor":    1,
		})
	})

	t.Run("keys delete refused before scanning", func(t *testing.T) {
		code, out, errOut := runArgs(t, args("keys", "delete", "acl:user:*", "--yes")...)
		if n, _ := admin.Exists(context.Background(), "acl:user:0").Result(); n != 1 {
			t.Fatal("a key was deleted")
		}
		oneLine(t, "keys delete", code, out, errOut, "read-only: nothing sent: user mon lacks +unlink, +pexpire, +persist")
		// Refused before SCAN and DUMP: the probe's refusals only.
		wantACLLog(t, admin, map[string]int64{"acl|dryrun": 1, "unlink": 1, "pexpire": 1, "persist": 1})
	})
}

// TestACLNoWrites runs redtop as a user with every command but the
// writes: reads work, and writes are off before anything is tried, in the
// key browser and in the batch commands, without a single refusal.
func TestACLNoWrites(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	srv, admin := aclServer(t)
	port := strconv.Itoa(srv.Port)
	reader := []string{"-p", port, "--user", "reader", "-a", "reader-pw"}
	args := func(more ...string) []string { return append(append([]string{}, reader...), more...) }

	if code, out, errOut := runArgs(t, args("--once", "--json", "--interval", "100ms")...); code != 0 || !strings.Contains(out, `"db0":{"keys":52`) {
		t.Fatalf("--once: exit %d, %q, %s", code, errOut, out)
	}
	if code, out, errOut := runArgs(t, args("keys", "scan", "acl:user:*")...); code != 0 || strings.Count(out, "\n") != 50 {
		t.Fatalf("keys scan: exit %d, %q", code, errOut)
	}
	if code, out, errOut := runArgs(t, args("keys", "analyze", "--json")...); code != 0 || !strings.Contains(out, `"acl:user:*"`) {
		t.Fatalf("keys analyze: exit %d, %q", code, errOut)
	}
	why := "read-only: nothing sent: user reader lacks +unlink, +pexpire, +persist"
	code, out, errOut := runArgs(t, args("keys", "delete", "acl:user:*", "--yes")...)
	oneLine(t, "keys delete", code, out, errOut, why)
	code, out, errOut = runArgs(t, args("keys", "expire", "acl:user:*", "1h", "--yes")...)
	oneLine(t, "keys expire", code, out, errOut, why)

	d, _ := startTarget(t, targetFor(t, reader...), time.Minute, 160, 36)
	d.keys("2")
	d.expect("acl:", "read-only: user reader lacks +unlink, +pexpire, +persist")
	d.keys("enter", "d")
	d.expect("read-only: user reader lacks")
	d.keys("D")
	d.expect("read-only: user reader lacks")
	d.keys("5", "s", "y") // everything else is allowed
	d.expect("MONITOR ● running")
	d.keys("x", "q")
	if n, _ := admin.Exists(context.Background(), "acl:user:0").Result(); n != 1 {
		t.Fatal("a key was deleted")
	}
	wantACLLog(t, admin, nil)
}
