package ui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

type fakeActivity struct {
	mu      sync.Mutex
	clients []ClientRow
	killed  []int64
	slow    SlowlogData
	resets  int
	denied  map[string]string
	learn   map[string]string // refusals learnt on the first call, as a gate does
	asked   map[string]int
	stream  *fakeStream
	pings   int
	calls   []string // "Clients node", in order
}

func (f *fakeActivity) note(call, node string) {
	f.mu.Lock()
	f.calls = append(f.calls, call+" "+node)
	f.mu.Unlock()
}

func (f *fakeActivity) Clients(_ context.Context, node string) ([]ClientRow, error) {
	f.note("Clients", node)
	return f.clients, nil
}
func (f *fakeActivity) KillClient(_ context.Context, node string, id int64) (string, error) {
	f.note("KillClient", node)
	f.killed = append(f.killed, id)
	return "killed", nil
}
func (f *fakeActivity) Slowlog(_ context.Context, node string) (SlowlogData, error) {
	f.note("Slowlog", node)
	return f.slow, nil
}
func (f *fakeActivity) ResetSlowlog(_ context.Context, node string) (string, error) {
	f.note("ResetSlowlog", node)
	f.resets++
	f.slow.Entries = nil
	return "reset", nil
}
func (f *fakeActivity) Ping(_ context.Context, node string) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pings++
	return 300 * time.Microsecond, nil
}
func (f *fakeActivity) LatencyEvents(_ context.Context, node string) (LatencyData, error) {
	f.note("LatencyEvents", node)
	return LatencyData{Hint: "latency monitoring is off: CONFIG SET latency-monitor-threshold 100 enables it"}, nil
}
func (f *fakeActivity) Monitor(_ context.Context, node string) (MonitorStream, error) {
	f.note("Monitor", node)
	f.mu.Lock()
	defer f.mu.Unlock()
	if why, ok := f.denied["monitor"]; ok {
		return nil, errors.New(why)
	}
	if why, ok := f.learn["monitor"]; ok {
		if f.denied == nil {
			f.denied = map[string]string{}
		}
		f.denied["monitor"] = why
		return nil, errors.New(why)
	}
	f.stream = &fakeStream{}
	return f.stream, nil
}
func (f *fakeActivity) Allowed(_ context.Context, feature string) (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.asked == nil {
		f.asked = map[string]int{}
	}
	f.asked[feature]++
	why, denied := f.denied[feature]
	return !denied, why
}

type fakeStream struct {
	mu      sync.Mutex
	pending []MonitorRow
	st      MonitorStats
}

func (s *fakeStream) Drain(max int) ([]MonitorRow, MonitorStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.pending
	s.pending = nil
	return out, s.st
}
func (s *fakeStream) Top() MonitorTop {
	return MonitorTop{Window: 5 * time.Second, Commands: []TopRow{{Name: "GET", PerSec: 1200}, {Name: "SET", PerSec: 300}}}
}
func (s *fakeStream) Pause()  {}
func (s *fakeStream) Resume() {}
func (s *fakeStream) Stop(reason string) {
	s.mu.Lock()
	s.st.Ended, s.st.Reason = true, reason
	s.mu.Unlock()
}

func withActivity(t *testing.T, a *fakeActivity, readOnly bool) (*Model, *clock) {
	t.Helper()
	c := &clock{t: t0}
	m := New(context.Background(), Config{Source: noSource{}, Target: "127.0.0.1:6379", DB: 0, Interval: time.Second, Now: c.now,
		Keys: sampleKeys(), Activity: a, ReadOnly: readOnly, Glob: globMatch})
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 24})
	return m, c
}

func TestClientsPaneKill(t *testing.T) {
	a := &fakeActivity{clients: []ClientRow{
		{ID: 7, Name: "redtop", Addr: "127.0.0.1:5000", Cmd: "info", Own: true, Age: time.Minute},
		{ID: 42, Name: "celery", Addr: "10.0.0.7:41234", Cmd: "get", Age: time.Hour, Omem: 2048},
	}}
	m, _ := withActivity(t, a, false)
	press(t, m, "3")
	s := screen(m)
	for _, want := range []string{"[clients]", "2 connected", "◆redtop", "celery", "10.0.0.7:41234"} {
		if !strings.Contains(s, want) {
			t.Fatalf("clients pane lacks %q:\n%s", want, s)
		}
	}
	press(t, m, "down", "K")
	if s := screen(m); !strings.Contains(s, "CLIENT KILL ID 42") || !strings.Contains(s, "celery") {
		t.Fatalf("no confirmation naming the client:\n%s", s)
	}
	press(t, m, "y")
	if len(a.killed) != 1 || a.killed[0] != 42 {
		t.Fatalf("killed %v", a.killed)
	}
}

func TestClientsPaneReadOnlyAndDenied(t *testing.T) {
	a := &fakeActivity{clients: []ClientRow{{ID: 1, Addr: "x"}}}
	m, _ := withActivity(t, a, true)
	press(t, m, "3", "K")
	if m.clients.Capturing() || len(a.killed) > 0 {
		t.Fatal("kill offered in read-only mode")
	}
	a2 := &fakeActivity{denied: map[string]string{"clients": "needs +client|list"}}
	m2, _ := withActivity(t, a2, false)
	press(t, m2, "3")
	if s := screen(m2); !strings.Contains(s, "needs +client|list") {
		t.Fatalf("no explanation:\n%s", s)
	}
}

func TestSlowlogMarksNewEntries(t *testing.T) {
	a := &fakeActivity{slow: SlowlogData{SlowerThan: 10 * time.Millisecond, MaxLen: 128, Entries: []SlowEntry{
		{ID: 2, Time: t0.Add(-time.Minute), Duration: 15 * time.Millisecond, Command: `KEYS "*"`, Client: "10.0.0.7:1"},
		{ID: 1, Time: t0.Add(-time.Hour), Duration: 12 * time.Millisecond, Command: "HGETALL big", Client: "10.0.0.7:1"},
	}}}
	m, _ := withActivity(t, a, false)
	press(t, m, "4")
	s := screen(m)
	if !strings.Contains(s, `KEYS "*"`) || !strings.Contains(s, "slower than 10.0ms") || strings.Contains(s, "new ●") {
		t.Fatalf("slow log:\n%s", s)
	}
	if !strings.Contains(s, "latency-monitor-threshold 100") {
		t.Fatalf("no hint to enable latency monitoring:\n%s", s)
	}
	press(t, m, "1") // leave: what was shown is seen
	a.slow.Entries = append([]SlowEntry{{ID: 3, Time: t0, Duration: 20 * time.Millisecond, Command: "SMEMBERS huge"}}, a.slow.Entries...)
	press(t, m, "4")
	if s := screen(m); !strings.Contains(s, "1 new ●") {
		t.Fatalf("new entry not marked:\n%s", s)
	}
	press(t, m, "X", "y")
	if a.resets != 1 {
		t.Fatal("reset not sent")
	}
}

func TestMonitorStartsOnlyAfterConfirmation(t *testing.T) {
	a := &fakeActivity{}
	m, _ := withActivity(t, a, false)
	press(t, m, "5")
	if a.stream != nil {
		t.Fatal("MONITOR started by opening the pane")
	}
	press(t, m, "s")
	if s := screen(m); !strings.Contains(s, "two thirds of its throughput") {
		t.Fatalf("no warning:\n%s", s)
	}
	press(t, m, "n")
	if a.stream != nil {
		t.Fatal("MONITOR started after n")
	}
	press(t, m, "s", "y")
	if a.stream == nil {
		t.Fatal("MONITOR not started after y")
	}
	a.stream.mu.Lock()
	a.stream.pending = []MonitorRow{{Time: t0, Client: "10.0.0.7:1", Cmd: "GET", Args: `"user:1"`, Key: "user:1"}, {Time: t0, Client: "10.0.0.8:1", Cmd: "SET", Args: `"other" "x"`, Key: "other"}}
	a.stream.st = MonitorStats{Seen: 2, Dropped: 5, Started: t0}
	a.stream.mu.Unlock()
	m.Update(monitorTickMsg{gen: m.monitor.gen})
	drainNow(t, m)
	s := screen(m)
	if !strings.Contains(s, `GET "user:1"`) || !strings.Contains(s, "dropped 5") {
		t.Fatalf("stream:\n%s", s)
	}
	m.monitor.filter, _ = parseMonitorFilter("cmd:SET")
	if s := screen(m); strings.Contains(s, `"user:1"`) || !strings.Contains(s, `"other"`) {
		t.Fatalf("filter:\n%s", s)
	}
	press(t, m, "v")
	if s := screen(m); !strings.Contains(s, "GET") || !strings.Contains(s, "1,200/s") {
		t.Fatalf("top view:\n%s", s)
	}
	press(t, m, "x")
	m.Update(monitorTickMsg{gen: m.monitor.gen})
	drainNow(t, m)
	if s := screen(m); !strings.Contains(s, "MONITOR ended: stopped by you") {
		t.Fatalf("end not shown:\n%s", s)
	}
}

// drainNow runs the drain command a tick would start.
func drainNow(t *testing.T, m *Model) {
	t.Helper()
	_, cmd := m.Update(monitorTickMsg{gen: m.monitor.gen})
	drain(t, m, cmd)
}

func TestMonitorDeniedIsExplained(t *testing.T) {
	a := &fakeActivity{denied: map[string]string{"monitor": "needs +monitor"}}
	m, _ := withActivity(t, a, false)
	press(t, m, "5")
	if s := screen(m); !strings.Contains(s, "needs +monitor") {
		t.Fatalf("no explanation:\n%s", s)
	}
	press(t, m, "s")
	if m.monitor.Capturing() || a.stream != nil {
		t.Fatal("start offered without the permission")
	}
}

// TestMonitorRefusedAtStartIsExplained: when nothing said MONITOR was
// denied (the user may not run ACL DRYRUN), the first start is refused, and
// the pane says why at once, not only after it is entered again.
func TestMonitorRefusedAtStartIsExplained(t *testing.T) {
	a := &fakeActivity{learn: map[string]string{"monitor": "needs +monitor"}}
	m, _ := withActivity(t, a, false)
	press(t, m, "5")
	if s := screen(m); strings.Contains(s, "not available") {
		t.Fatalf("denied before trying:\n%s", s)
	}
	press(t, m, "s", "y")
	s := screen(m)
	if !strings.Contains(s, "MONITOR is not available: needs +monitor") || !strings.Contains(s, "MONITOR: needs +monitor") {
		t.Fatalf("the pane does not say why:\n%s", s)
	}
	if strings.Contains(s, "It is expensive on a busy server") {
		t.Fatalf("the pane still offers to start:\n%s", s)
	}
	press(t, m, "s")
	if m.monitor.Capturing() {
		t.Fatal("start offered again after the refusal")
	}
	if n := strings.Count(strings.Join(a.calls, "\n"), "Monitor"); n != 1 {
		t.Fatalf("Monitor called %d times", n)
	}
}

func TestPingLine(t *testing.T) {
	a := &fakeActivity{}
	m, c := withActivity(t, a, false)
	for i := 0; i < 5; i++ {
		c.t = c.t.Add(time.Second)
		m.Update(pingMsg{rtt: time.Duration(100*(i+1)) * time.Microsecond, at: c.now()})
	}
	feed(m, c, loadInfo(t, "info-1.txt"))
	if s := screen(m); !strings.Contains(s, "ping 500µs") || !strings.Contains(s, "p99 500µs") || !strings.Contains(s, "p50 300µs") {
		t.Fatalf("ping line:\n%s", s)
	}
}

// TestClientsSortByAddress: the addr column sorts as addresses, not as
// text: 10.0.0.9 before 10.0.0.10, port 6379 before 10000, IPv4 before
// IPv6, and a unix socket's clients last.
func TestClientsSortByAddress(t *testing.T) {
	p := &clientsPane{sortCol: slices.Index(clientSorts, "addr"), rows: []ClientRow{
		{ID: 1, Addr: "10.0.0.10:6379"},
		{ID: 2, Addr: "/tmp/redis.sock:0"},
		{ID: 3, Addr: "[::1]:5000"},
		{ID: 4, Addr: "10.0.0.9:10000"},
		{ID: 5, Addr: "10.0.0.9:6379"},
	}}
	var got []int64
	for _, r := range p.filtered() {
		got = append(got, r.ID)
	}
	if want := []int64{5, 4, 1, 3, 2}; !slices.Equal(got, want) {
		t.Fatalf("sorted by addr: %v, want %v", got, want)
	}
}

// TestClientsAddrFits80: in 80 columns the clients pane hides tot-mem,
// omem, flags and db so the address shows whole; wider, they come back.
func TestClientsAddrFits80(t *testing.T) {
	a := &fakeActivity{clients: []ClientRow{{ID: 42, Name: "celery", Addr: "192.168.100.200:41234", Cmd: "get", Flags: "N", Omem: 2048}}}
	m, _ := withActivity(t, a, false)
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	press(t, m, "3")
	s := screen(m)
	if !strings.Contains(s, "192.168.100.200:41234") || strings.Contains(s, "tot-mem") || strings.Contains(s, "omem") {
		t.Fatalf("80 columns:\n%s", s)
	}
	m.Update(tea.WindowSizeMsg{Width: 140, Height: 24})
	s = screen(m)
	for _, want := range []string{"192.168.100.200:41234", "tot-mem", "omem", "flags", "2.0KiB"} {
		if !strings.Contains(s, want) {
			t.Fatalf("140 columns lack %q:\n%s", want, s)
		}
	}
}

// TestSlowlogHintsWrapIn80: in 80 columns the lines above the slow log
// wrap rather than lose their end: the command that turns the latency
// monitor on shows whole.
func TestSlowlogHintsWrapIn80(t *testing.T) {
	a := &fakeActivity{slow: SlowlogData{SlowerThan: 10 * time.Millisecond, MaxLen: 128}}
	m, _ := withActivity(t, a, false)
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	press(t, m, "4")
	s := screen(m)
	for _, want := range []string{"(slowlog-max-len)", "CONFIG SET", "latency-monitor-threshold 100 enables it"} {
		if !strings.Contains(s, want) {
			t.Fatalf("80 columns lack %q:\n%s", want, s)
		}
	}
}
