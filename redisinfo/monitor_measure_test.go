package redisinfo

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"redtop/internal/redisproc"
)

// TestMeasureMonitor prints (asserts nothing) how fast redtop's Monitor
// reads under redis-benchmark -P 16 -n 2000000 -t get,set, next to
// redis-cli monitor > /dev/null in the same run, and the test process's
// memory. Run it alone, without -race:
//
//	REDTOP_MEASURE=1 go test -run TestMeasureMonitor -v ./redisinfo
func TestMeasureMonitor(t *testing.T) {
	if os.Getenv("REDTOP_MEASURE") != "1" {
		t.Skip("set REDTOP_MEASURE=1 to measure")
	}
	bench, err1 := exec.LookPath("redis-benchmark")
	cli, err2 := exec.LookPath("redis-cli")
	if err1 != nil || err2 != nil {
		t.Skip("needs redis-benchmark and redis-cli")
	}
	ctx := monCtx(t)
	srv := redisproc.ForTest(t, redisproc.Options{Unix: true})
	tg := monTarget(srv)
	c := monClient(t, tg)
	const n = 2000000
	benchArgs := []string{"-s", srv.Socket, "-P", "16", "-t", "get,set", "-n", strconv.Itoa(n), "-q"}

	// The server alone, for the cost of MONITOR.
	base, err := exec.CommandContext(ctx, bench, benchArgs...).Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("no MONITOR:          %s", benchSummary(base))

	// redis-cli monitor > /dev/null, then redtop's session next to it.
	rc := exec.CommandContext(ctx, cli, "-s", srv.Socket, "monitor")
	if err := rc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { rc.Process.Kill(); rc.Wait() }()
	var cliID int64
	for deadline := time.Now().Add(5 * time.Second); cliID == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		list, _ := c.Do(ctx, "client", "list").Text()
		for _, cl := range ParseClientList(list) {
			if strings.Contains(cl.Flags, "O") {
				cliID = cl.ID
			}
		}
	}
	if cliID == 0 {
		t.Fatal("redis-cli monitor did not show up")
	}
	m := monStart(t, ctx, tg, MonitorOptions{Client: c, Limit: 5 * time.Minute})

	// A UI-like consumer: ten drains a second into the top view.
	top := NewMonitorTop(MonitorTopOptions{})
	stop := make(chan struct{})
	var consumed int64
	var wg sync.WaitGroup
	wg.Go(func() {
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			lines, _ := m.Drain(0)
			consumed += int64(len(lines))
			top.Add(lines)
		}
	})
	// Both monitors' omem, ten times a second.
	var peakCLI, peakOurs int64
	var samples, overCLI, overOurs int // samples, and those over 1 MiB
	sampleStop := make(chan struct{})
	wg.Go(func() {
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-sampleStop:
				return
			case <-tk.C:
			}
			list, err := c.Do(ctx, "client", "list").Text()
			if err != nil {
				continue
			}
			samples++
			for _, cl := range ParseClientList(list) {
				switch cl.ID {
				case cliID:
					peakCLI = max(peakCLI, cl.OMem)
					overCLI += btoi(cl.OMem > 1<<20)
				case m.ID():
					peakOurs = max(peakOurs, cl.OMem)
					overOurs += btoi(cl.OMem > 1<<20)
				}
			}
		}
	})

	cpu0, cli0 := monCPU(), procCPU(rc.Process.Pid)
	start := time.Now()
	out, err := exec.CommandContext(ctx, bench, benchArgs...).Output()
	if err != nil {
		t.Fatal(err)
	}
	benchTime := time.Since(start)
	// How long each monitor takes to have read everything.
	want := int64(2 * n)
	var oursDone, cliDone time.Duration
	for deadline := time.Now().Add(time.Minute); (oursDone == 0 || cliDone == 0) && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if st := m.Stats(); oursDone == 0 && (st.Seen >= want || st.Ended) {
			oursDone = time.Since(start)
		}
		if cliDone == 0 {
			if o, err := monOmem(ctx, c, cliID); err == nil && o == 0 {
				cliDone = time.Since(start)
			}
		}
	}
	cpuOurs, cpuCLI := monCPU()-cpu0, procCPU(rc.Process.Pid)-cli0
	close(sampleStop)
	close(stop)
	wg.Wait()
	st := m.Stats()
	m.Stop("measured")

	t.Logf("with both monitors:  %s", benchSummary(out))
	t.Logf("lines: %d (%d SET + %d GET) in %v of benchmark", st.Seen, n, n, benchTime.Round(time.Millisecond))
	t.Logf("omem sampled %d times (every 100 ms): over 1 MiB %d times for redtop, %d for redis-cli", samples, overOurs, overCLI)
	if st.Ended {
		t.Logf("redtop's session ended early: %s", st.EndReason)
	}
	t.Logf("redtop Monitor:      read %d lines after %v = %.0f lines/s; peak omem %d B; CPU %v (%.0f ns/line, test process: reader + consumer + top view + sampler); drained %d, dropped %d (ring 10000, drained every 100 ms)",
		st.Seen, oursDone.Round(time.Millisecond), float64(st.Seen)/oursDone.Seconds(), peakOurs, cpuOurs.Round(time.Millisecond),
		float64(cpuOurs.Nanoseconds())/float64(st.Seen), consumed, st.Dropped)
	t.Logf("redis-cli monitor:   omem back to 0 after %v = %.0f lines/s; peak omem %d B; CPU %v (%.0f ns/line)",
		cliDone.Round(time.Millisecond), float64(want)/cliDone.Seconds(), peakCLI, cpuCLI.Round(time.Millisecond),
		float64(cpuCLI.Nanoseconds())/float64(want))
	v := top.Snapshot(time.Now(), 0)
	for _, r := range v.Commands.Rows {
		t.Logf("top view: %s %d", r.Name, r.Count)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("test process: %s, Go heap in use %d MiB (sys %d MiB)", procStatus("VmRSS", "VmHWM"), ms.HeapInuse>>20, ms.Sys>>20)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// benchSummary is redis-benchmark -q's final lines, on one.
func benchSummary(out []byte) string {
	var parts []string
	for _, l := range strings.Split(string(out), "\n") {
		if i := strings.LastIndex(l, "\r"); i >= 0 {
			l = l[i+1:]
		}
		if strings.Contains(l, "requests per second") {
			parts = append(parts, strings.TrimSpace(l))
		}
	}
	return strings.Join(parts, "; ")
}

// procCPU is a process's user+system CPU time from /proc.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}

func procStatus(fields ...string) string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "?"
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for _, name := range fields {
			if strings.HasPrefix(sc.Text(), name+":") {
				out = append(out, strings.Join(strings.Fields(sc.Text()), " "))
			}
		}
	}
	return strings.Join(out, ", ")
}
