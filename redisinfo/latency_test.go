package redisinfo

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// latClock is a clock the test moves by hand.
type latClock struct{ t time.Time }

func (c *latClock) now() time.Time          { return c.t }
func (c *latClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func msec(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

func TestLatencyWindowPercentiles(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration // one a second
		want    LatencyStats
	}{
		{name: "empty", want: LatencyStats{}},
		{name: "one", samples: []time.Duration{msec(2)},
			want: LatencyStats{Samples: 1, Last: msec(2), LastOK: true, P50: msec(2), P99: msec(2), Max: msec(2)}},
		{name: "two: nearest rank", samples: []time.Duration{msec(3), msec(1)},
			want: LatencyStats{Samples: 2, Last: msec(1), LastOK: true, P50: msec(1), P99: msec(3), Max: msec(3)}},
		{name: "1..59 and a spike", samples: append(msSeries(1, 59), msec(500)),
			want: LatencyStats{Samples: 60, Last: msec(500), LastOK: true, P50: msec(30), P99: msec(500), Max: msec(500)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &latClock{t: t0}
			w := NewLatencyWindow(time.Minute, 100, clk.now)
			for _, s := range tt.samples {
				clk.advance(time.Second / 2)
				w.Add(s)
				clk.advance(time.Second / 2)
			}
			if got := w.Stats(); got != tt.want {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
			last, ok := w.Last()
			if last != tt.want.Last || ok != tt.want.LastOK || w.P50() != tt.want.P50 || w.P99() != tt.want.P99 || w.Max() != tt.want.Max {
				t.Errorf("accessors disagree with Stats")
			}
		})
	}
}

// msSeries is from..to milliseconds, one each.
func msSeries(from, to int) []time.Duration {
	var out []time.Duration
	for i := from; i <= to; i++ {
		out = append(out, msec(float64(i)))
	}
	return out
}

func TestLatencyWindowForgetsAfterSpan(t *testing.T) {
	clk := &latClock{t: t0}
	w := NewLatencyWindow(time.Minute, 1000, clk.now)
	w.Add(msec(900)) // a spike, then quiet
	for i := 0; i < 59; i++ {
		clk.advance(time.Second)
		w.Add(msec(1))
	}
	if st := w.Stats(); st.Max != msec(900) || st.Samples != 60 || st.P99 != msec(900) {
		t.Errorf("within the minute: %+v", st)
	}
	clk.advance(time.Second) // the spike is now a minute old
	if st := w.Stats(); st.Max != msec(1) || st.Samples != 59 {
		t.Errorf("a minute later: %+v", st)
	}
	clk.advance(2 * time.Minute) // no samples: the server went away
	if st := w.Stats(); st != (LatencyStats{}) {
		t.Errorf("three minutes later: %+v", st)
	}
}

func TestLatencyWindowIsBounded(t *testing.T) {
	clk := &latClock{t: t0}
	w := NewLatencyWindow(time.Minute, 10, clk.now)
	for i := 1; i <= 25; i++ {
		clk.advance(time.Millisecond)
		w.Add(msec(float64(i)))
	}
	if st := w.Stats(); st.Samples != 10 || st.Max != msec(25) || st.P50 != msec(20) {
		t.Errorf("%+v", st)
	}
	if len(w.ring) != 10 {
		t.Errorf("ring grew to %d", len(w.ring))
	}
}

func TestLatencyWindowFailures(t *testing.T) {
	clk := &latClock{t: t0}
	w := NewLatencyWindow(0, 0, clk.now)
	w.Add(msec(4))
	clk.advance(time.Second)
	w.AddFailure()
	st := w.Stats()
	if st.Samples != 1 || st.Failures != 1 || st.LastOK || st.Last != 0 || st.Max != msec(4) {
		t.Errorf("%+v", st)
	}
	if _, ok := w.Last(); ok {
		t.Error("Last reports a failed PING as a measurement")
	}
}

func TestLatencySeries(t *testing.T) {
	clk := &latClock{t: t0}
	w := NewLatencyWindow(time.Minute, 100, clk.now)
	// 0 s: 5 ms; 1 s: 7 ms (same 6-second bucket); 30 s: failure; 59 s: 2 ms.
	w.Add(msec(5))
	clk.advance(time.Second)
	w.Add(msec(7))
	clk.advance(29 * time.Second)
	w.AddFailure()
	clk.advance(29 * time.Second)
	w.Add(msec(2))
	clk.advance(500 * time.Millisecond)
	got := w.Series(10) // 6 s a bucket, window (now-60 s, now]
	want := []float64{7, math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), 2}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if math.IsNaN(want[i]) != math.IsNaN(got[i]) || !math.IsNaN(want[i]) && got[i] != want[i] {
			t.Fatalf("series %v, want %v", got, want)
		}
	}
	if w.Series(0) != nil {
		t.Error("Series(0)")
	}
}

// TestPingNotSentIsNotBooked: PINGs to a server that cannot be reached
// leave nothing in the ledger to be subtracted once it is back.
func TestPingNotSentIsNotBooked(t *testing.T) {
	l := NewLedger()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	defer c.Close()
	p := NewPingSampler(c, "127.0.0.1:1", l)
	for range 3 {
		if _, err := p.Sample(context.Background()); err == nil {
			t.Fatal("PING to a closed port answered")
		}
	}
	if own := l.Get("127.0.0.1:1"); own.Calls["ping"] != 0 || own.NetIn != 0 || own.NetOut != 0 {
		t.Fatalf("booked %+v for PINGs never sent", own)
	}
}
