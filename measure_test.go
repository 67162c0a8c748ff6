package main

// Measurements for the README and the issue notes. They print figures and
// never assert on time: run them with
//
//	REDTOP_MEASURE=1 go test -run Measure -v -count=1 .

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/demo"
	"redtop/internal/redisproc"
)

func needMeasure(t *testing.T) {
	if os.Getenv("REDTOP_MEASURE") == "" {
		t.Skip("set REDTOP_MEASURE=1 to measure")
	}
}

// countingWriter counts bytes and signals the first write containing want.
type countingWriter struct {
	n     atomic.Int64
	mu    sync.Mutex
	want  []byte
	tail  []byte
	found chan struct{}
	once  sync.Once
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	if w.want != nil {
		w.mu.Lock()
		w.tail = append(w.tail, p...)
		if bytes.Contains(w.tail, w.want) {
			w.once.Do(func() { close(w.found) })
		}
		if len(w.tail) > 1<<16 {
			w.tail = w.tail[len(w.tail)-1024:]
		}
		w.mu.Unlock()
	}
	return len(p), nil
}

func startProgram(ctx context.Context, t *testing.T, target conn.Target, out io.Writer) (*tea.Program, *App) {
	app, err := connect(ctx, target, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p := tea.NewProgram(app.Model(ctx), tea.WithContext(ctx), tea.WithInput(nil), tea.WithOutput(out),
		tea.WithWindowSize(120, 40), tea.WithoutSignals())
	return p, app
}

// TestMeasureFirstFrame: time from start (connect included) to the first
// frame that shows data, on loopback.
func TestMeasureFirstFrame(t *testing.T) {
	needMeasure(t)
	srv := redisproc.ForTest(t, redisproc.Options{})
	target := conn.Target{Network: "tcp", Addr: srv.Addr(), Timeout: 2 * time.Second}
	var times []time.Duration
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		w := &countingWriter{want: []byte("ops/s"), found: make(chan struct{})}
		start := time.Now()
		p, app := startProgram(ctx, t, target, w)
		done := make(chan struct{})
		go func() { p.Run(); close(done) }()
		select {
		case <-w.found:
			times = append(times, time.Since(start))
		case <-time.After(5 * time.Second):
			t.Fatal("no data frame within 5 s")
		}
		p.Quit()
		<-done
		app.Close()
		cancel()
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	fmt.Printf("MEASURE first frame with data: median %v, max %v over %d starts\n",
		times[len(times)/2].Round(100*time.Microsecond), times[len(times)-1].Round(100*time.Microsecond), len(times))
}

// TestMeasureSteadyState: redtop's CPU and terminal output at 120x40 and a
// 1 s interval over 30 s, while a separate process drives the demo workload.
func TestMeasureSteadyState(t *testing.T) {
	needMeasure(t)
	srv := redisproc.ForTest(t, redisproc.Options{Unix: true})
	load := exec.Command(os.Args[0], "-test.run=^$")
	load.Env = append(os.Environ(), "REDTOP_WORKLOAD_SOCKET="+srv.Socket)
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { load.Process.Kill(); load.Wait() }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	target := conn.Target{Network: "unix", Addr: srv.Socket, DB: 1, Timeout: 2 * time.Second}
	w := &countingWriter{}
	p, app := startProgram(ctx, t, target, w)
	defer app.Close()
	done := make(chan struct{})
	go func() { p.Run(); close(done) }()
	time.Sleep(5 * time.Second) // past the first frames
	const span = 30 * time.Second
	b0, c0 := w.n.Load(), cpuTime()
	time.Sleep(span)
	b1, c1 := w.n.Load(), cpuTime()
	p.Quit()
	<-done
	fmt.Printf("MEASURE steady state at 120x40, 1s interval, %v: CPU %.2f%% of a core, output %.0f B/s\n",
		span, float64(c1-c0)/float64(span)*100, float64(b1-b0)/span.Seconds())
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runWorkloadIfAsked turns the test binary into a load generator for
// TestMeasureSteadyState, so the load's CPU is not counted as redtop's.
func runWorkloadIfAsked() {
	sock := os.Getenv("REDTOP_WORKLOAD_SOCKET")
	if sock == "" {
		return
	}
	t := conn.Target{Network: "unix", Addr: sock, DB: 1, Timeout: 2 * time.Second}
	c := redis.NewClient(t.Options())
	ctx := context.Background()
	if err := demo.Seed(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	demo.Run(ctx, c, demo.Options{})
	os.Exit(0)
}
