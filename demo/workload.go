package demo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options shape the workload. The zero value is the demo's own: about 400
// commands a second, a hit ratio swinging between 60 % and 95 % over five
// minutes, on the wall clock.
type Options struct {
	// OpsPerSec is the command rate, sent as one pipeline every 50 ms
	// (a second pipeline carries the SETs that refill misses). Default 400.
	OpsPerSec int
	// Period is one full swing of the hit ratio, high to low and back.
	// Default 5 minutes.
	Period time.Duration
	// Now is the clock the hit ratio follows. Default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.OpsPerSec <= 0 {
		o.OpsPerSec = 400
	}
	if o.Period <= 0 {
		o.Period = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

const (
	tickEvery = 50 * time.Millisecond
	readShare = 0.75 // of commands sent, the rest are writes

	// The hit ratio the workload aims at drifts along a sinusoid between
	// ratioMid-ratioAmp and ratioMid+ratioAmp.
	ratioMid = 0.775
	ratioAmp = 0.175
)

// targetHitRatio is the share of reads meant to hit at time t: a sinusoid
// of the given period between 0.60 and 0.95, phased on the Unix epoch so a
// fixed clock gives a fixed ratio.
func targetHitRatio(t time.Time, period time.Duration) float64 {
	phase := float64(t.UnixNano()%int64(period)) / float64(period)
	return ratioMid + ratioAmp*math.Sin(2*math.Pi*phase)
}

// Run drives c's database like the Django site the demo imitates, until ctx
// is done; it then returns nil. A read is meant to hit (a key the site has
// cached) with the probability targetHitRatio gives for that moment, and
// otherwise asks for a key nobody cached (a stale session cookie, an
// employee not viewed lately); cache misses are refilled with SET, as
// cache-aside code does. Seed first, or the first reads miss until the
// refills have warmed the cache. Any error from the server ends Run with
// that error.
func Run(ctx context.Context, c *redis.Client, opts Options) error {
	w := newWorkload(c, opts.withDefaults())
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := w.step(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("demo workload: %w", err)
		}
	}
}

// workload is Run's state; only Run's goroutine touches it.
type workload struct {
	c    *redis.Client
	opts Options
	r    *rand.Rand
	now  time.Time // the current batch's time

	// Live sessions are sessionKey(n) for sessLo <= n < sessHi: logins
	// add at the top, logouts remove the oldest.
	sessLo, sessHi uint64
	stale          uint64 // next stale session cookie
	cold           int    // next employee id to read uncached
	minute         string // the pageviews counter that already has its TTL
	budget         float64
}

// Employees read uncached cycle through this id range: an id comes round
// again long after its 300 s cache entry expired, so the read misses.
const (
	coldFirst = 10_001
	coldLast  = 1_000_000
)

func newWorkload(c *redis.Client, opts Options) *workload {
	r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	return &workload{
		c: c, opts: opts, r: r,
		sessHi: seedSessions,
		stale:  r.Uint64(),
		cold:   coldFirst + r.IntN(coldLast-coldFirst),
	}
}

// batch is one tick's pipeline.
type batch struct {
	ctx   context.Context
	pipe  redis.Pipeliner
	n     int // commands queued
	reads []read
}

// read is a queued read and, for cached data, how to refill it on a miss.
type read struct {
	cmd    redis.Cmder
	refill func(redis.Pipeliner) error // nil: the app does not cache it back
}

// step sends one tick's worth of commands, then the refills of the misses.
// Refills count against the next tick's budget, so the total stays at
// OpsPerSec.
func (w *workload) step(ctx context.Context) error {
	w.budget += float64(w.opts.OpsPerSec) * tickEvery.Seconds()
	n := int(w.budget)
	if n < 1 {
		return nil
	}
	w.budget -= float64(n)
	w.now = w.opts.Now()
	ratio := targetHitRatio(w.now, w.opts.Period)

	b := &batch{ctx: ctx, pipe: w.c.Pipeline()}
	for b.n < n {
		ops := writeOps
		if w.r.Float64() < readShare {
			ops = missOps
			if w.r.Float64() < ratio {
				ops = hitOps
			}
		}
		if err := pick(w.r, ops).do(w, b); err != nil {
			return err
		}
	}
	if err := cmdsErr(b.pipe.Exec(ctx)); err != nil {
		return err
	}

	refill := w.c.Pipeline()
	for _, rd := range b.reads {
		if rd.refill != nil && missed(rd.cmd) {
			if err := rd.refill(refill); err != nil {
				return err
			}
		}
	}
	if refill.Len() == 0 {
		return nil
	}
	w.budget = max(w.budget-float64(refill.Len()), -float64(n))
	return cmdsErr(refill.Exec(ctx))
}

// missed tells whether a read found nothing.
func missed(c redis.Cmder) bool {
	switch c := c.(type) {
	case *redis.StringCmd:
		return errors.Is(c.Err(), redis.Nil)
	case *redis.MapStringStringCmd:
		return c.Err() == nil && len(c.Val()) == 0
	}
	return false
}

// op is one kind of request the site makes, weighted by how often.
type op struct {
	weight int
	do     func(*workload, *batch) error
}

func pick(r *rand.Rand, ops []op) op {
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	x := r.IntN(total)
	for _, o := range ops {
		if x < o.weight {
			return o
		}
		x -= o.weight
	}
	return ops[len(ops)-1]
}
