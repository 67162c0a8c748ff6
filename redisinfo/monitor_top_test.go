package redisinfo

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// monLine builds a line at t0 + sec seconds.
func monLine(sec float64, client, cmd string, args ...string) MonitorLine {
	l := MonitorLine{Time: t0.Add(time.Duration(sec * float64(time.Second))), Client: client, Cmd: cmd, NArgs: len(args)}
	for _, a := range args {
		l.Args = append(l.Args, []byte(a))
	}
	return l
}

// monClock is a settable clock.
type monClock struct{ now time.Time }

func (c *monClock) Now() time.Time { return c.now }

func monRow(l TopList, name string) (TopEntry, bool) {
	for _, r := range l.Rows {
		if r.Name == name {
			return r, true
		}
	}
	return TopEntry{}, false
}

func TestMonitorTopRatesOverWindow(t *testing.T) {
	// The server's clock is 3 s ahead of ours: rates follow the server's
	// timestamps, related to now by the offset seen at Add.
	clk := &monClock{}
	top := NewMonitorTop(MonitorTopOptions{Clock: clk.Now})
	skew := 3 * time.Second
	for s := 0; s < 10; s++ {
		var monitorBatch []MonitorLine
		for i := 0; i < 100; i++ {
			monitorBatch = append(monitorBatch, monLine(float64(s)+float64(i)/100, "10.0.0.1:5000", "get", fmt.Sprintf("user:%d:name", i)))
		}
		// From second 5 on, 50 SETs a second on one hot key.
		if s >= 5 {
			for i := 0; i < 50; i++ {
				monitorBatch = append(monitorBatch, monLine(float64(s)+float64(i)/50, "10.0.0.2:6000", "set", "hot:key", "v"))
			}
		}
		clk.now = t0.Add(time.Duration(s+1)*time.Second - skew)
		top.Add(monitorBatch)
	}
	// The last line was at 9.99 s server time, 10 s - skew ours; 110 ms
	// later, seconds 5..9 are complete.
	now := t0.Add(10100*time.Millisecond - skew)
	v := top.Snapshot(now, 5*time.Second)
	if v.Window != 5*time.Second || v.Count != 750 || v.Lines != 1250 || math.Abs(v.Rate-150) > 1e-9 {
		t.Fatalf("window %v count %d lines %d rate %v", v.Window, v.Count, v.Lines, v.Rate)
	}
	if r, _ := monRow(v.Commands, "get"); r.Count != 500 || r.Rate != 100 || r.Total != 1000 || math.Abs(r.Share-2.0/3) > 1e-9 {
		t.Errorf("get = %+v", r)
	}
	if r, _ := monRow(v.Commands, "set"); r.Count != 250 || r.Rate != 50 {
		t.Errorf("set = %+v", r)
	}
	if v.Commands.Rows[0].Name != "get" {
		t.Errorf("commands not sorted: %+v", v.Commands.Rows)
	}
	if r, _ := monRow(v.Patterns, "user:*:name"); r.Count != 500 {
		t.Errorf("patterns = %+v", v.Patterns.Rows)
	}
	if v.HotKeys.Rows[0].Name != "hot:key" || v.HotKeys.Rows[0].Count != 250 {
		t.Errorf("hot keys = %+v", v.HotKeys.Rows[:2])
	}
	if r, _ := monRow(v.Clients, "10.0.0.2:6000"); r.Rate != 50 {
		t.Errorf("clients = %+v", v.Clients.Rows)
	}

	// Totals since the first line.
	tot := top.Snapshot(now, 0)
	if tot.Count != 1250 || tot.Window != 10090*time.Millisecond || math.Abs(tot.Rate-1250/10.09) > 1e-9 {
		t.Errorf("totals: count %d window %v rate %v", tot.Count, tot.Window, tot.Rate)
	}
	if r, _ := monRow(tot.Commands, "get"); r.Count != 1000 || math.Abs(r.Rate-1000/10.09) > 1e-9 {
		t.Errorf("total get = %+v", r)
	}

	// Traffic stops: the window slides past it.
	idle := top.Snapshot(t0.Add(20*time.Second-skew), 5*time.Second)
	if idle.Count != 0 || len(idle.Commands.Rows) != 0 || idle.Lines != 1250 {
		t.Errorf("idle: %+v", idle)
	}
}

func TestMonitorTopYoungSessionAndOwnLines(t *testing.T) {
	clk := &monClock{now: t0.Add(2500 * time.Millisecond)}
	top := NewMonitorTop(MonitorTopOptions{Clock: clk.Now})
	own := monLine(0.5, "127.0.0.1:1", "info", "all")
	own.Own = true
	top.Add([]MonitorLine{monLine(0.1, "c", "ping"), monLine(1.2, "c", "get", "k"), monLine(2.4, "c", "get", "k"), own})
	v := top.Snapshot(t0.Add(2500*time.Millisecond), 5*time.Second)
	// Two complete seconds (0 and 1); second 2 is in progress.
	if v.Window != 2*time.Second || v.Count != 2 || v.Rate != 1 || v.OwnLines != 1 {
		t.Errorf("young: window %v count %d rate %v own %d", v.Window, v.Count, v.Rate, v.OwnLines)
	}
	if _, ok := monRow(v.Commands, "info"); ok {
		t.Error("own line counted")
	}
	if r, _ := monRow(v.Patterns, "k"); r.Count != 1 {
		t.Errorf("ping has no key: %+v", v.Patterns.Rows)
	}
}

// Distinct names are capped: a flood of unique keys cannot grow memory.
func TestMonitorTopBoundedMemory(t *testing.T) {
	clk := &monClock{now: t0}
	top := NewMonitorTop(MonitorTopOptions{MaxEntries: 1000, Clock: clk.Now})
	var monitorBatch []MonitorLine
	for i := 0; i < 50000; i++ {
		monitorBatch = append(monitorBatch, monLine(float64(i)/10000, fmt.Sprintf("10.0.%d.%d:1", i/256%256, i%256), "set", fmt.Sprintf("k%08x", i*7919)))
		if i%10 == 0 {
			monitorBatch = append(monitorBatch, monLine(float64(i)/10000, "c", "get", "hot"))
		}
	}
	top.Add(monitorBatch)
	clk.now = t0.Add(6 * time.Second)
	v := top.Snapshot(clk.now, 0)
	for name, l := range map[string]TopList{"commands": v.Commands, "patterns": v.Patterns, "clients": v.Clients, "keys": v.HotKeys} {
		if l.Distinct > 1000 {
			t.Errorf("%s: %d names tracked", name, l.Distinct)
		}
	}
	if v.HotKeys.Rows[0].Name != "hot" || v.HotKeys.Rows[0].Count != 5000 || v.HotKeys.Evicted == 0 {
		t.Errorf("hot key lost under eviction: %+v evicted %d", v.HotKeys.Rows[0], v.HotKeys.Evicted)
	}
	if v.Lines != 55000 {
		t.Errorf("lines = %d", v.Lines)
	}
}

func BenchmarkMonitorTopAdd(b *testing.B) {
	top := NewMonitorTop(MonitorTopOptions{})
	monitorBatch := make([]MonitorLine, 1000)
	for i := range monitorBatch {
		monitorBatch[i] = monLine(float64(i)/1000, "127.0.0.1:5000", "set", fmt.Sprintf("key:%012d", i), "xxx")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		top.Add(monitorBatch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(monitorBatch)), "ns/line")
}

func BenchmarkParseMonitorLine(b *testing.B) {
	line := []byte(`+1700000000.123456 [0 127.0.0.1:52344] "SET" "key:000000012345" "xxx"` + "\r\n")
	p := monitorParser{maxArgs: 32, maxArgLen: 512}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := p.parse(line, false); err != nil {
			b.Fatal(err)
		}
	}
}
