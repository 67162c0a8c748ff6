package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/redis/go-redis/v9"

	"redtop/conn"
	"redtop/internal/redisproc"
	"redtop/redisinfo"
)

// targetFor resolves connection flags exactly as main does (no
// environment, no terminal).
func targetFor(t *testing.T, args ...string) conn.Target {
	t.Helper()
	var o options
	fs := newFlags(&o, io.Discard)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	target, _, err := o.conn.Resolve(func(string) string { return "" }, nil)
	if err != nil {
		t.Fatalf("resolve %q: %v", args, err)
	}
	return target
}

// startTarget is startBrowsing for any target (TLS, a user): the
// dashboard's model through main's wiring, driven without a terminal.
func startTarget(t *testing.T, target conn.Target, interval time.Duration, w, h int) (*driver, *App) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	app, err := connect(ctx, target, interval)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	d := &driver{t: t, m: app.Model(ctx), out: make(chan tea.Msg, 1024)}
	d.send(tea.WindowSizeMsg{Width: w, Height: h})
	d.run(d.m.Init())
	d.settle()
	return d, app
}

// overviewWithRates shows the overview after two polls a second apart,
// so it has rates. (The panes are driven with a minute's interval: polls
// every second keep the driver from settling quickly.)
func overviewWithRates(t *testing.T, target conn.Target) *driver {
	t.Helper()
	d, app := startTarget(t, target, time.Second, 120, 36)
	time.Sleep(1200 * time.Millisecond)
	d.settle()
	app.Close()
	return d
}

// rawConns counts the connections opened so far that name themselves
// with CLIENT SETNAME but do not start with HELLO: redtop's raw RESP
// connections (go-redis's send both), as the server counts them.
func rawConns(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	text, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	cmds := redisinfo.Parse(text).Commands
	return cmds["client|setname"].Calls - cmds["hello"].Calls
}

// pumpLoad runs GETs and a SET on tls:user:* keys until the test ends, so
// MONITOR and the rates have something to show.
func pumpLoad(t *testing.T, c *redis.Client, prefix string) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			c.Get(ctx, prefix+strconv.Itoa(i%100))
			c.Get(ctx, prefix+"missing")
			c.Set(ctx, prefix+"counter", i, 0)
			time.Sleep(2 * time.Millisecond)
		}
	})
}

// oneLine checks a failure: exit 1, nothing on stdout, one "redtop:" line
// on stderr (after redis-cli's password warning, if any) holding want.
func oneLine(t *testing.T, what string, code int, out, errOut string, want ...string) {
	t.Helper()
	errOut = strings.TrimPrefix(errOut, conn.PasswordWarning+"\n")
	if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "redtop: ") {
		t.Fatalf("%s: exit %d, stdout %q, stderr %q; want exit 1 and one redtop: line", what, code, out, errOut)
	}
	for _, w := range want {
		if !strings.Contains(errOut, w) {
			t.Errorf("%s: %q lacks %q", what, errOut, w)
		}
	}
	t.Logf("%s: %s", what, strings.TrimSpace(errOut))
}

// TestTLSEndToEnd points every part of redtop at a server that speaks
// only TLS and wants a client certificate (tls-auth-clients yes): the
// batch overview, keys scan, keys analyze (its raw measuring connection),
// keys delete with a backup (its raw writer) and restore, the monitor
// command (its raw MONITOR connection), and the dashboard: overview and
// PING line, clients, key browser and MONITOR pane. A connection that did
// not speak TLS with the client certificate would find nothing to talk to.
func TestTLSEndToEnd(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	pki := redisproc.PKIForTest(t, "redtop-e2e")
	srv := redisproc.ForTest(t, redisproc.Options{TLS: pki.ServerTLS("yes")})
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), TLSConfig: srv.ClientTLS(), DisableIdentity: true, Protocol: 2})
	defer c.Close()
	pipe := c.Pipeline()
	for i := range 100 {
		pipe.Set(ctx, fmt.Sprintf("tls:user:%d", i), strings.Repeat("u", 100), 0)
	}
	for i := range 40 {
		pipe.Set(ctx, fmt.Sprintf("tls:del:%d", i), "gone soon", time.Hour)
	}
	pipe.HSet(ctx, "tls:hash", "f", "v")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	tlsFlags := []string{"-p", strconv.Itoa(srv.Port), "--tls", "--cacert", pki.CAFile, "--cert", pki.ClientCertFile, "--key", pki.ClientKeyFile}
	args := func(more ...string) []string { return append(append([]string{}, tlsFlags...), more...) }

	t.Run("once json", func(t *testing.T) {
		code, out, errOut := runArgs(t, args("--once", "--json", "--interval", "200ms")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var rep struct {
			Nodes    int
			Version  string `json:"redis_version"`
			Keyspace map[string]struct{ Keys int64 }
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if rep.Nodes != 1 || rep.Keyspace["db0"].Keys != 141 || rep.Version == "" {
			t.Fatalf("report %+v", rep)
		}
	})

	t.Run("keys scan", func(t *testing.T) {
		code, out, errOut := runArgs(t, args("keys", "scan", "tls:user:*")...)
		if code != 0 || errOut != "" || strings.Count(out, "\n") != 100 {
			t.Fatalf("exit %d, stderr %q, %d lines", code, errOut, strings.Count(out, "\n"))
		}
	})

	t.Run("keys analyze", func(t *testing.T) {
		// The measuring pipeline opens its own raw connection.
		before := rawConns(t, c)
		code, out, errOut := runArgs(t, args("keys", "analyze", "--json")...)
		if code != 0 || errOut != "" {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		var rows []struct {
			Prefix string
			Keys   int64
			Memory int64 `json:"memory_bytes"`
		}
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		found := false
		for _, r := range rows {
			if r.Prefix == "tls:user:*" && r.Keys == 100 && r.Memory > 100*100 {
				found = true
			}
		}
		if !found {
			t.Fatalf("no tls:user:* row of 100 keys: %+v", rows)
		}
		if after := rawConns(t, c); after != before+1 {
			t.Fatalf("raw connections %d → %d: the raw measuring connection was not used", before, after)
		}
	})

	t.Run("keys delete and restore", func(t *testing.T) {
		backup := filepath.Join(t.TempDir(), "tls-del.backup")
		before := rawConns(t, c)
		code, out, errOut := runArgs(t, args("keys", "delete", "tls:del:*", "--yes", "--backup", backup)...)
		if code != 0 {
			t.Fatalf("delete: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		if after := rawConns(t, c); after <= before {
			t.Fatalf("raw connections %d → %d: the raw writer was not used", before, after)
		}
		if n, _ := c.Exists(ctx, "tls:del:0", "tls:del:39").Result(); n != 0 {
			t.Fatalf("%d keys left after delete", n)
		}
		if st, err := os.Stat(backup); err != nil || st.Size() == 0 {
			t.Fatalf("backup: %v", err)
		}
		code, out, errOut = runArgs(t, args("restore", backup)...)
		if code != 0 {
			t.Fatalf("restore: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		for i := range 40 {
			ttl, err := c.TTL(ctx, fmt.Sprintf("tls:del:%d", i)).Result()
			if err != nil || ttl < 50*time.Minute {
				t.Fatalf("tls:del:%d after restore: TTL %v, %v", i, ttl, err)
			}
		}
	})

	t.Run("monitor command", func(t *testing.T) {
		pumpLoad(t, c, "tls:user:")
		code, out, errOut := runArgs(t, args("monitor", "--duration", "1s")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for _, want := range []string{"ended: --duration 1s elapsed", "\nget ", "\nset ", "tls:user:*"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("dashboard", func(t *testing.T) {
		pumpLoad(t, c, "tls:user:")
		target := targetFor(t, tlsFlags...)
		overviewWithRates(t, target).expect("● live", "ops/s", "lifetime", "hits", " ping ", "p50", "tls:127.0.0.1:"+strconv.Itoa(srv.Port))
		d, _ := startTarget(t, target, time.Minute, 120, 36)
		d.keys("3")
		d.expect("[clients]", "◆redtop")
		d.keys("2")
		d.expect("tls:", "user:")
		d.keys("5")
		d.expect("MONITOR · not running")
		d.keys("s", "y")
		time.Sleep(300 * time.Millisecond)
		d.settle()
		d.expect("MONITOR ● running", "tls:user:")
		d.keys("x")
		d.settle()
		d.expect("MONITOR ended: stopped by you")
	})
}

// TestTLSFailsClosed: a server certificate from another CA is refused by
// every command, in one line that names the certificate and x509's
// reason; nothing is sent.
func TestTLSFailsClosed(t *testing.T) {
	pki := redisproc.PKIForTest(t, "redtop-right")
	other := redisproc.PKIForTest(t, "redtop-wrong")
	srv := redisproc.ForTest(t, redisproc.Options{TLS: pki.ServerTLS("optional")})
	port := strconv.Itoa(srv.Port)
	where := "tls:127.0.0.1:" + port
	for _, cmd := range [][]string{{"--once"}, {"keys", "analyze"}, {"monitor", "--duration", "1s"}} {
		code, out, errOut := runArgs(t, append([]string{"-p", port, "--tls", "--cacert", other.CAFile}, cmd...)...)
		oneLine(t, strings.Join(cmd, " "), code, out, errOut, "certificate", "x509", "unknown authority", where)
	}
	// No --cacert: the system's roots do not know the test CA either.
	code, out, errOut := runArgs(t, "-p", port, "--tls", "--once")
	oneLine(t, "no --cacert", code, out, errOut, "certificate", "x509", where)
	// A name the certificate does not carry.
	code, out, errOut = runArgs(t, "-p", port, "--tls", "--cacert", pki.CAFile, "--sni", "redis.example", "--once")
	oneLine(t, "--sni", code, out, errOut, "certificate", "redis.example", where)
	// A plain client on the TLS port.
	code, out, errOut = runArgs(t, "-p", port, "--once")
	oneLine(t, "no --tls", code, out, errOut, "--tls")
	// tls-auth-clients optional: no client certificate is fine.
	if code, _, errOut := runArgs(t, "-p", port, "--tls", "--cacert", pki.CAFile, "--once", "--interval", "100ms"); code != 0 {
		t.Fatalf("optional client certificate: exit %d: %s", code, errOut)
	}
}

// TestTLSMutualAuth: a server that wants a client certificate (tls-auth-
// clients yes) refuses a client without one, or with one from another CA,
// in one clear line.
func TestTLSMutualAuth(t *testing.T) {
	pki := redisproc.PKIForTest(t, "redtop-mtls")
	other := redisproc.PKIForTest(t, "redtop-stranger")
	srv := redisproc.ForTest(t, redisproc.Options{TLS: pki.ServerTLS("yes")})
	port := strconv.Itoa(srv.Port)
	base := []string{"-p", port, "--tls", "--cacert", pki.CAFile}
	for _, cmd := range [][]string{{"--once"}, {"keys", "analyze"}, {"monitor", "--duration", "1s"}} {
		code, out, errOut := runArgs(t, append(append([]string{}, base...), cmd...)...)
		oneLine(t, "no client certificate: "+strings.Join(cmd, " "), code, out, errOut, "wants a client certificate", "--cert and --key", "certificate required")
	}
	code, out, errOut := runArgs(t, append(append([]string{}, base...), "--cert", other.ClientCertFile, "--key", other.ClientKeyFile, "--once")...)
	oneLine(t, "client certificate from another CA", code, out, errOut, "refused redtop's client certificate", "unknown certificate authority")
	code, out, errOut = runArgs(t, append(append([]string{}, base...), "--cert", pki.ClientCertFile, "--once")...)
	if code != 2 || out != "" || !strings.Contains(errOut, "--cert and --key go together") {
		t.Fatalf("--cert alone: exit %d, %q", code, errOut)
	}
	code, _, errOut = runArgs(t, append(append([]string{}, base...), "--cert", pki.ClientCertFile, "--key", pki.ClientKeyFile, "--once", "--interval", "100ms")...)
	if code != 0 {
		t.Fatalf("with the client certificate: exit %d: %s", code, errOut)
	}
}
