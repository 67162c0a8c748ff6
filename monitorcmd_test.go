package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
	"redtop/internal/redisproc"
)

func monitorCmdRun(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, os.Stdin, &out, &errb)
	return code, out.String(), errb.String()
}

// monitorCmdLoad runs GETs and SETs on mcmd:<n> keys until the test ends.
func monitorCmdLoad(t *testing.T, srv *redisproc.Server) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	c := redis.NewClient((conn.Target{Network: srv.Network(), Addr: srv.Addr(), Timeout: 2 * time.Second}).Options())
	wg.Go(func() {
		defer c.Close()
		for i := 0; ctx.Err() == nil; i++ {
			k := "mcmd:" + strconv.Itoa(i%500)
			c.Set(ctx, k, "v", 0)
			c.Get(ctx, k)
			c.Get(ctx, "mcmd:hot")
		}
	})
}

func TestMonitorCommand(t *testing.T) {
	srv := redisproc.ForTest(t, redisproc.Options{Unix: true})
	monitorCmdLoad(t, srv)

	code, out, errOut := monitorCmdRun("-s", srv.Socket, "monitor", "--duration", "1s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "costs the server throughput") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("stderr %q: want the one-line warning", errOut)
	}
	for _, want := range []string{
		"ended: --duration 1s elapsed", "0 dropped", "peak ", "limit 1.0 MiB",
		"COMMAND", "\nget ", "\nset ", "KEY PATTERN", "\nmcmd:* ", "CLIENT", "unix:" + srv.Socket,
		"HOT KEY (MONITOR sample counts)", "\nmcmd:hot ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("\n%s", out)

	code, out, errOut = monitorCmdRun("-s", srv.Socket, "monitor", "--duration", "500ms", "--json", "--top", "3", "--limit-omem", "2mb")
	if code != 0 {
		t.Fatalf("--json exit %d: %s", code, errOut)
	}
	var rep monitorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if rep.Seen < 100 || rep.EndReason != "--duration 500ms elapsed" || rep.OmemLimit != 2<<20 ||
		len(rep.Commands) != 2 || rep.Commands[0].Name != "get" || rep.HotKeys[0].Name != "mcmd:hot" ||
		rep.HotKeysLabel != "MONITOR sample counts" || len(rep.Patterns) == 0 || rep.Seconds < 0.5 {
		t.Errorf("report: %+v", rep)
	}
}

func TestMonitorCommandRefused(t *testing.T) {
	srv := redisproc.ForTest(t, redisproc.Options{})
	c := redis.NewClient((conn.Target{Network: "tcp", Addr: srv.Addr(), Timeout: 2 * time.Second}).Options())
	defer c.Close()
	if err := c.Do(context.Background(), "acl", "setuser", "viewer", "on", ">viewer-pw", "~*", "+@all", "-monitor").Err(); err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(srv.Port)
	code, out, errOut := monitorCmdRun("-p", port, "--user", "viewer", "-a", "viewer-pw", "monitor", "--duration", "1s")
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	last := lines[len(lines)-1]
	if code != 1 || out != "" || !strings.Contains(last, "needs +monitor") || !strings.HasPrefix(last, "redtop: monitor: ") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	for _, args := range [][]string{
		{"monitor", "--duration", "0s"},
		{"monitor", "--limit-omem", "12xb"},
		{"monitor", "extra"},
		{"monitor", "--top", "0"},
		{"monitor", "--nope"},
	} {
		code, out, errOut := monitorCmdRun(append([]string{"-p", port}, args...)...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	code, out, _ = monitorCmdRun("-p", port, "monitor", "--help")
	if code != 0 || !strings.Contains(out, "--limit-omem") || !strings.Contains(out, "costs the server throughput") {
		t.Errorf("--help: %d %q", code, out)
	}
}

func TestParseRedisSize(t *testing.T) {
	cases := map[string]int64{
		"1MB": 1 << 20, "1mb": 1 << 20, "1m": 1e6, "512kb": 512 << 10, "512k": 512000,
		"1048576": 1 << 20, "0": 0, "2gb": 2 << 30, "1.5mb": 3 << 19, "64MiB": 64 << 20, " 1 mb ": 1 << 20,
	}
	for in, want := range cases {
		if got, err := parseRedisSize(in); err != nil || got != want {
			t.Errorf("%q = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "mb", "-1mb", "1tb", "1..2mb"} {
		if _, err := parseRedisSize(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
