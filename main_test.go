package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/internal/redisproc"
)

func TestMain(m *testing.M) {
	redis.SetLogger(quietLogger{})
	runWorkloadIfAsked()
	code := m.Run()
	stopSharedCluster()
	os.Exit(code)
}

func runArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, os.Stdin, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpListsEveryFlag(t *testing.T) {
	code, out, _ := runArgs(t, "--help")
	if code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	if strings.Contains(out, "true|false") {
		t.Errorf("--help shows pflag's bool noise:\n%s", out)
	}
	for _, f := range []string{"-h, --host", "-p, --port", "-s, --socket", "-n, --db", "-u, --uri", "--user", "-a, --pass",
		"--askpass", "--sentinel", "--master", "--sentinel-user", "--sentinel-pass", "--tls", "--cacert", "--cert", "--key", "--sni", "--insecure", "--timeout",
		"-c, --cluster", "--interval", "--once", "--json", "--demo", "--delimiter", "--key-prefix", "--readonly", "--monitor-limit",
		"--version", "--help", "keys scan", "monitor", "restore"} {
		if !strings.Contains(out, f) {
			t.Errorf("--help lacks %s", f)
		}
	}
	if code, out, _ := runArgs(t, "--version"); code != 0 || !strings.HasPrefix(out, "redtop ") {
		t.Fatalf("--version: %d %q", code, out)
	}
}

func TestBadInputIsOneClearLine(t *testing.T) {
	srv := redisproc.ForTest(t, redisproc.Options{Args: []string{"--requirepass", "s3cret-pw"}, Password: "s3cret-pw"})
	port := strconv.Itoa(srv.Port)
	free := freePort(t)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"wrong password", []string{"-p", port, "-a", "wrong-pw", "--once"}, 1, "authentication failed"},
		{"no password", []string{"-p", port, "--once"}, 1, "requires a password"},
		{"refused", []string{"-p", free, "--once"}, 1, "--demo"},
		{"skip_verify", []string{"-u", "rediss://:pw@127.0.0.1:" + port + "?skip_verify=true", "--once"}, 2, "--insecure"},
		{"bad interval", []string{"--interval", "1ms"}, 2, "--interval"},
		{"json without once", []string{"--json"}, 2, "--once"},
		{"stray argument", []string{"oops"}, 2, "unexpected argument"},
		{"bad db", []string{"-p", port, "-a", "s3cret-pw", "-n", "99", "--once"}, 1, "no database 99"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runArgs(t, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, c.code, errOut)
			}
			if out != "" {
				t.Fatalf("stdout not empty: %q", out)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, c.want) || !strings.HasPrefix(last, "redtop: ") {
				t.Fatalf("stderr %q lacks %q", errOut, c.want)
			}
			for _, pw := range []string{"s3cret-pw", "wrong-pw"} {
				if strings.Contains(errOut, pw) {
					t.Fatalf("password on stderr: %q", errOut)
				}
			}
		})
	}
	// -a works, with redis-cli's warning.
	code, out, errOut := runArgs(t, "-p", port, "-a", "s3cret-pw", "--once", "--interval", "100ms")
	if code != 0 || !strings.Contains(errOut, conn.PasswordWarning) || !strings.Contains(out, "hit rate") {
		t.Fatalf("exit %d stderr %q stdout %q", code, errOut, out)
	}
}

// TestOnceJSONMeasuresTheDrivenHitRate drives GETs at exactly 3 hits to 1
// miss while redtop samples, and checks the JSON says 75%.
func TestOnceJSONMeasuresTheDrivenHitRate(t *testing.T) {
	srv := redisproc.ForTest(t, redisproc.Options{Unix: true})
	ctx, cancel := context.WithCancel(context.Background())
	app := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Addr(), DB: 2})
	defer app.Close()
	for i := 0; i < 3; i++ {
		app.Set(ctx, "k"+strconv.Itoa(i), "v", time.Hour)
	}
	// Some lifetime history at 100% so the windowed rate differs from it.
	for i := 0; i < 3000; i++ {
		app.Get(ctx, "k0")
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		keys := []string{"k0", "k1", "k2", "missing"}
		for i := 0; ctx.Err() == nil; i++ {
			pipe := app.Pipeline()
			for _, k := range keys {
				pipe.Get(ctx, k)
			}
			pipe.Exec(ctx)
		}
	})
	code, out, errOut := runArgs(t, "-s", srv.Socket, "-n", "2", "--once", "--json", "--interval", "500ms")
	cancel()
	wg.Wait()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"hit_rate", "hits_per_sec", "misses_per_sec", "ops_per_sec", "lifetime_hit_rate",
		"used_memory_bytes", "maxmemory_bytes", "maxmemory_policy", "evicted_keys_per_sec", "expired_keys_per_sec",
		"connected_clients", "redis_version", "role", "keyspace", "nodes"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	hr := rep["hit_rate"].(float64)
	if math.Abs(hr-0.75) > 0.01 {
		t.Fatalf("hit_rate %v, want 0.75 ± 0.01", hr)
	}
	if lr := rep["lifetime_hit_rate"].(float64); lr <= hr {
		t.Fatalf("lifetime %v should be above the window's %v", lr, hr)
	}
	db2 := rep["keyspace"].(map[string]any)["db2"].(map[string]any)
	if db2["keys"].(float64) != 3 || db2["expires"].(float64) != 3 || rep["nodes"].(float64) != 1 {
		t.Fatalf("keyspace %v nodes %v", rep["keyspace"], rep["nodes"])
	}
}

func TestOnceJSONNullWithoutLookups(t *testing.T) {
	srv := redisproc.ForTest(t, redisproc.Options{})
	code, out, errOut := runArgs(t, "-p", strconv.Itoa(srv.Port), "--once", "--json", "--interval", "100ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, `"hit_rate":null`) {
		t.Fatalf("hit_rate not null on an idle server: %s", out)
	}
}

// TestEndToEnd runs the dashboard through the same wiring as main against
// a real server, sees live data, and quits with q.
func TestEndToEnd(t *testing.T) {
	srv := redisproc.ForTest(t, redisproc.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	target := conn.Target{Network: "tcp", Addr: srv.Addr(), DB: 0, Timeout: 2 * time.Second}
	app, err := connect(ctx, target, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	tm := teatest.NewTestModel(t, app.Model(ctx), teatest.WithInitialTermSize(100, 30))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		return bytes.Contains(b, []byte("live")) && bytes.Contains(b, []byte("redis 7")) || bytes.Contains(b, []byte("redis 6"))
	}, teatest.WithDuration(10*time.Second))
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestServerRestartMidSession kills the server under a running dashboard:
// it shows the stale state, then recovers when the server is back.
func TestServerRestartMidSession(t *testing.T) {
	srv := redisproc.ForTest(t, redisproc.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	target := conn.Target{Network: "tcp", Addr: srv.Addr(), Timeout: time.Second}
	app, err := connect(ctx, target, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	tm := teatest.NewTestModel(t, app.Model(ctx), teatest.WithInitialTermSize(120, 30))
	out := tm.Output()
	wait := func(what string) {
		t.Helper()
		teatest.WaitFor(t, out, func(b []byte) bool {
			return bytes.Contains(b, []byte(what)) && (what != "restarted" || bytes.Contains(b, []byte("reconnected after")))
		},
			teatest.WithDuration(15*time.Second), teatest.WithCheckInterval(50*time.Millisecond))
	}
	wait("live")
	srv.Kill()
	wait("DOWN")
	if err := srv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	// One status line says both: back, and the windows start again because
	// the server restarted.
	wait("restarted")
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}
