package keys

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// pacer spaces a bulk run's batches: a token bucket for a fixed rate
// (BulkOptions.Rate), and with Auto a pause between batches that doubles
// the time per batch (halves the batch rate) each time the server's
// latency is seen above the target, and shrinks it by a third each time
// it is seen below three quarters of it.
type pacer struct {
	rate   float64 // keys per second; 0: no cap
	target time.Duration

	mu        sync.Mutex
	next      time.Time     // rate: when the next batch may go
	autoDelay time.Duration // pause after each batch, set by auto pacing
	lastBatch time.Duration // how long the last batch took
	lastEnd   time.Time
	maxLat    time.Duration // highest latency auto pacing saw
}

func newPacer(opt BulkOptions) *pacer {
	return &pacer{rate: opt.Rate, target: opt.LatencyTarget}
}

// delay is the pause auto pacing imposes now.
func (p *pacer) delay() time.Duration {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.autoDelay
}

// wait blocks until a batch of n keys may go; it returns early with
// ctx's error or errAborted. Lanes writing at once share the rate: each
// batch books its slot before it waits.
func (p *pacer) wait(ctx context.Context, abort <-chan struct{}, n int) error {
	now := time.Now()
	until := now
	p.mu.Lock()
	if p.rate > 0 && p.next.After(until) {
		until = p.next
	}
	if p.autoDelay > 0 && !p.lastEnd.IsZero() {
		if t := p.lastEnd.Add(p.autoDelay); t.After(until) {
			until = t
		}
	}
	if p.rate > 0 {
		p.next = until.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	}
	p.mu.Unlock()
	if d := until.Sub(now); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-abort:
			return errAborted
		}
	}
	return nil
}

// done records how long a batch took.
func (p *pacer) done(d time.Duration) {
	p.mu.Lock()
	p.lastBatch, p.lastEnd = d, time.Now()
	p.mu.Unlock()
}

// adjust reacts to one latency sample.
func (p *pacer) adjust(lat time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.maxLat = max(p.maxLat, lat)
	period := p.lastBatch + p.autoDelay
	switch {
	case lat > p.target:
		// Twice the time per batch: half the batch rate.
		d := p.lastBatch + 2*p.autoDelay
		if d < time.Millisecond {
			d = time.Millisecond
		}
		p.autoDelay = min(d, maxAutoDelay)
	case lat < p.target*3/4 && p.autoDelay > 0:
		d := period*2/3 - p.lastBatch
		if d < 100*time.Microsecond {
			d = 0
		}
		p.autoDelay = d
	}
}

// measure PINGs c every AutoInterval and adjusts the pause, until the
// returned function is called. A PING that fails counts as slow.
func (p *pacer) measure(ctx context.Context, c *redis.Client, opt BulkOptions) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(AutoInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			t0 := time.Now()
			err := c.Ping(pctx).Err()
			lat := time.Since(t0)
			pcancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				lat = time.Second
			} else if opt.Ledger != nil {
				opt.Ledger.Call(opt.Node, "ping", 1)
				opt.Ledger.Bytes(opt.Node, 14, 7)
			}
			p.adjust(lat)
		}
	}()
	return func() { cancel(); <-done }
}
