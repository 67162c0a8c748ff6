package redisinfo

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestPingSampler(t *testing.T) {
	r := newActRig(t)
	// The wiring gives the sampler a client of its own: one connection,
	// retries off.
	c := redis.NewClient(r.target("", "").WriterOptions())
	t.Cleanup(func() { c.Close() })
	ledger := NewLedger()
	p := NewPingSampler(c, "n", ledger)

	before := r.counts(t)
	w := NewLatencyWindow(time.Minute, 60, nil)
	for i := 0; i < 5; i++ {
		d, err := p.Sample(actCtx())
		if err != nil {
			t.Fatal(err)
		}
		if d <= 0 || d > time.Second {
			t.Errorf("sample %v", d)
		}
		w.Add(d)
	}
	after := r.counts(t)
	// The first sample opened the connection (HELLO, CLIENT SETNAME: not
	// redtop's to book here) and sent one unmeasured PING.
	if got := ledger.Get("n").Calls["ping"]; got != 6 || after.calls["ping"]-before.calls["ping"] != 6 {
		t.Errorf("booked %d PINGs, server counted %d", got, after.calls["ping"]-before.calls["ping"])
	}
	st := w.Stats()
	if st.Samples != 5 || st.P50 <= 0 || st.P50 > st.P99 || st.P99 > st.Max {
		t.Errorf("%+v", st)
	}
	t.Logf("PING on loopback: p50 %v p99 %v max %v", st.P50, st.P99, st.Max)

	ledger2 := NewLedger()
	p = NewPingSampler(c, "n", ledger2)
	before = r.counts(t)
	if _, err := p.Sample(actCtx()); err != nil {
		t.Fatal(err)
	}
	checkBooked(t, before, r.counts(t), ledger2.Get("n"), true)

	r.do(t, "client", "pause", "800", "all")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := p.Sample(ctx); err == nil || !errors.Is(err, context.DeadlineExceeded) && !isTimeoutErr(err) {
		t.Errorf("a paused server answered: %v", err)
	}
}

func isTimeoutErr(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

func TestLatencyLatest(t *testing.T) {
	r := newActRig(t, "--enable-debug-command", "yes")
	c := r.client(t, "")
	warmUp(t, c)
	ledger := NewLedger()

	before := r.counts(t)
	on, threshold, err := LatencyEnabled(actCtx(), c, "n", ledger)
	if err != nil || on || threshold != 0 {
		t.Fatalf("default: %v %v %v", on, threshold, err)
	}
	events, err := FetchLatencyLatest(actCtx(), c, "n", ledger)
	if err != nil || len(events) != 0 {
		t.Fatalf("events with monitoring off: %+v %v", events, err)
	}
	checkBooked(t, before, r.counts(t), ledger.Get("n"), true)

	r.do(t, "config", "set", "latency-monitor-threshold", "1")
	r.do(t, "debug", "sleep", "0.01")
	on, threshold, err = LatencyEnabled(actCtx(), c, "n", nil)
	if err != nil || !on || threshold != time.Millisecond {
		t.Fatalf("after CONFIG SET: %v %v %v", on, threshold, err)
	}
	ledger = NewLedger()
	before = r.counts(t)
	events, err = FetchLatencyLatest(actCtx(), c, "n", ledger)
	if err != nil {
		t.Fatal(err)
	}
	checkBooked(t, before, r.counts(t), ledger.Get("n"), true)
	var cmd *LatencyEvent
	for i := range events {
		if events[i].Name == "command" {
			cmd = &events[i]
		}
	}
	if cmd == nil || cmd.Latest < 10*time.Millisecond || cmd.Max < cmd.Latest || time.Since(cmd.Time) > time.Minute {
		t.Fatalf("events %+v", events)
	}
}

func TestParseLatencyLatestShapes(t *testing.T) {
	got := parseLatencyLatest([]any{
		[]any{"command", int64(1700000000), int64(12), int64(40)},
		[]any{"fork", int64(1700000001), int64(3), int64(3), "a field from a later version"},
		[]any{"short", int64(1)},
		[]any{int64(1), int64(2), int64(3), int64(4)},
		"garbage",
	})
	want := []LatencyEvent{
		{Name: "command", Time: time.Unix(1700000000, 0), Latest: 12 * time.Millisecond, Max: 40 * time.Millisecond},
		{Name: "fork", Time: time.Unix(1700000001, 0), Latest: 3 * time.Millisecond, Max: 3 * time.Millisecond},
	}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%+v, want %+v", got[i], want[i])
		}
	}
	if LatencyOffHint != "latency monitoring is off: CONFIG SET latency-monitor-threshold 100 enables it" {
		t.Error(LatencyOffHint)
	}
}
