package redisinfo

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// PingSampler measures the server's round trip with one PING at a time on
// a client of its own, so a sample never waits behind a CLIENT LIST or a
// SCAN page. Give it a client with one connection and retries off
// (redis.NewClient(target.WriterOptions())): a retried PING would measure
// two attempts and a backoff.
type PingSampler struct {
	c      *redis.Client
	node   string
	ledger *Ledger
}

// NewPingSampler samples through c, booking each PING in ledger (may be
// nil) under node.
func NewPingSampler(c *redis.Client, node string, ledger *Ledger) *PingSampler {
	return &PingSampler{c: c, node: node, ledger: ledger}
}

var pingArgs = []string{"ping"}

// Sample sends one PING and returns how long the reply took. When the
// client has no open connection (the first sample, or after a
// reconnection) it first sends one PING that is not measured, so that a
// sample never includes connecting and the handshake.
func (p *PingSampler) Sample(ctx context.Context) (time.Duration, error) {
	if p.c.PoolStats().IdleConns == 0 {
		if err := p.ping(ctx); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	err := p.ping(ctx)
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	return d, nil
}

// ping is booked before it is sent: an INFO on another connection that
// counts the PING before its reply is read would otherwise show it as the
// server's traffic for a tick (once a second, a visible blip on an idle
// server). Booked but not yet counted is what the tracker's carry absorbs;
// a PING that was never sent (no connection) is taken back, so a server
// that is down for long does not leave phantom PINGs to subtract later.
func (p *PingSampler) ping(ctx context.Context) error {
	w := wire{p.ledger, p.node}
	w.ok("ping", pingArgs, wireStatus("PONG"))
	err := p.c.Ping(ctx).Err()
	if err != nil && notSent(err) {
		p.ledger.Call(p.node, "ping", -1)
		p.ledger.Bytes(p.node, -int64(respLen(pingArgs)), -int64(wireStatus("PONG")))
	}
	return err
}

// LatencyWindow keeps the round trips of the last span (a minute by
// default) in a bounded ring, for the latency line and its sparkline. It
// does no I/O and reads time only from its clock; it is not safe for
// concurrent use (the UI owns it).
type LatencyWindow struct {
	span  time.Duration
	now   func() time.Time
	ring  []latencySample
	start int // index of the oldest sample
	n     int
}

type latencySample struct {
	at     time.Time
	rtt    time.Duration
	failed bool
}

// DefaultLatencySpan is how far back a LatencyWindow looks by default.
const DefaultLatencySpan = time.Minute

// NewLatencyWindow keeps at most capacity samples (at least 2) of the last
// span (DefaultLatencySpan when ≤ 0); now is its clock (time.Now when nil).
// At one sample a second, a capacity of 60 covers a minute.
func NewLatencyWindow(span time.Duration, capacity int, now func() time.Time) *LatencyWindow {
	if span <= 0 {
		span = DefaultLatencySpan
	}
	if now == nil {
		now = time.Now
	}
	return &LatencyWindow{span: span, now: now, ring: make([]latencySample, max(capacity, 2))}
}

// Add records a round trip, stamped with the window's clock.
func (w *LatencyWindow) Add(rtt time.Duration) { w.push(latencySample{at: w.now(), rtt: rtt}) }

// AddFailure records a PING that got no reply (timeout, connection lost).
func (w *LatencyWindow) AddFailure() { w.push(latencySample{at: w.now(), failed: true}) }

func (w *LatencyWindow) push(s latencySample) {
	if w.n == len(w.ring) {
		w.ring[w.start] = s
		w.start = (w.start + 1) % len(w.ring)
		return
	}
	w.ring[(w.start+w.n)%len(w.ring)] = s
	w.n++
}

// recent calls f on the samples within the span, oldest first.
func (w *LatencyWindow) recent(f func(latencySample)) {
	from := w.now().Add(-w.span)
	for i := 0; i < w.n; i++ {
		s := w.ring[(w.start+i)%len(w.ring)]
		if s.at.After(from) {
			f(s)
		}
	}
}

// LatencyStats sum up a window.
type LatencyStats struct {
	Samples  int           // round trips measured within the span
	Failures int           // PINGs without a reply within the span
	Last     time.Duration // the newest sample, 0 when it failed or there is none
	LastOK   bool          // Last is a measurement
	P50, P99 time.Duration // nearest-rank percentiles, 0 without samples
	Max      time.Duration
}

// Stats computes everything at once (one sort).
func (w *LatencyWindow) Stats() LatencyStats {
	var st LatencyStats
	var rtts []time.Duration
	w.recent(func(s latencySample) {
		st.LastOK = !s.failed
		st.Last = s.rtt
		if s.failed {
			st.Failures++
			return
		}
		rtts = append(rtts, s.rtt)
	})
	st.Samples = len(rtts)
	if len(rtts) == 0 {
		return st
	}
	slices.Sort(rtts)
	st.P50 = latencyRank(rtts, 0.50)
	st.P99 = latencyRank(rtts, 0.99)
	st.Max = rtts[len(rtts)-1]
	return st
}

// latencyRank is the nearest-rank p-quantile of sorted values.
func latencyRank(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Last is the newest round trip within the span; false when there is none
// or the newest PING failed.
func (w *LatencyWindow) Last() (time.Duration, bool) {
	st := w.Stats()
	return st.Last, st.LastOK
}

// P50 is the median round trip within the span.
func (w *LatencyWindow) P50() time.Duration { return w.Stats().P50 }

// P99 is the 99th percentile round trip within the span.
func (w *LatencyWindow) P99() time.Duration { return w.Stats().P99 }

// Max is the longest round trip within the span.
func (w *LatencyWindow) Max() time.Duration { return w.Stats().Max }

// Series splits the span into n equal buckets, oldest first, each the
// longest round trip in it in milliseconds, or NaN (a gap) when it holds
// no measurement: the values for a sparkline.
func (w *LatencyWindow) Series(n int) []float64 {
	if n <= 0 {
		return nil
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = math.NaN()
	}
	now := w.now()
	from := now.Add(-w.span)
	w.recent(func(s latencySample) {
		if s.failed {
			return
		}
		i := int(int64(s.at.Sub(from)) * int64(n) / int64(w.span))
		i = min(max(i, 0), n-1)
		ms := float64(s.rtt) / float64(time.Millisecond)
		if math.IsNaN(out[i]) || ms > out[i] {
			out[i] = ms
		}
	})
	return out
}
