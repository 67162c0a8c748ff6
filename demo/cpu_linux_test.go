package demo

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWorkloadCPU measures what the demo costs: run it with
//
//	REDTOP_DEMO_CPU=20s go test -run WorkloadCPU -v ./demo
//
// It logs the CPU this process (the workload) and redis-server used, as a
// share of one core, and the commands the server processed. It asserts
// nothing about speed.
func TestWorkloadCPU(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("REDTOP_DEMO_CPU"))
	if err != nil {
		t.Skip("set REDTOP_DEMO_CPU to a duration (e.g. 20s) to measure the workload's CPU")
	}
	_, c := seeded(t)
	ctx := t.Context()
	pid := c.InfoMap(ctx, "server").Val()["Server"]["process_id"]
	cmds0 := c.InfoMap(ctx, "stats").Val()["Stats"]["total_commands_processed"]
	self0, srv0 := selfCPU(t), procCPU(t, pid)
	start := time.Now()

	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := Run(runCtx, c, Options{}); err != nil {
		t.Fatal(err)
	}

	wall := time.Since(start)
	self, srv := selfCPU(t)-self0, procCPU(t, pid)-srv0
	cmds1 := c.InfoMap(ctx, "stats").Val()["Stats"]["total_commands_processed"]
	n0, _ := strconv.Atoi(cmds0)
	n1, _ := strconv.Atoi(cmds1)
	t.Logf("%v wall: workload %v CPU (%.2f%% of a core), redis-server %v (%.2f%%), %.0f commands/s",
		wall.Round(time.Millisecond), self, 100*self.Seconds()/wall.Seconds(),
		srv, 100*srv.Seconds()/wall.Seconds(), float64(n1-n0)/wall.Seconds())
}

func selfCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads utime+stime of a process from /proc/<pid>/stat.
func procCPU(t *testing.T, pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which ends with the last ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clkTck
}
