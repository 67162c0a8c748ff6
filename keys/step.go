package keys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/redisinfo"
)

// Step budgets: a step stops after this many keys or this long, so a UI
// that scans one step per message stays responsive on a sparse MATCH.
const (
	StepKeys = 2000
	StepTime = 50 * time.Millisecond
)

// Step is one step of a scan driven by the caller, a page at a time: the
// key browser scans in the background this way, one message per step.
type Step struct {
	Keys   []string
	Meta   []KeyMeta // with meta: one per key; TTLKnown is false for a key gone before it was measured
	Cursor uint64    // the cursor to continue from; 0 when Done
	Done   bool      // the cursor came back to 0
	Calls  int       // SCAN calls made
}

// ScanStep runs SCAN from cursor until about StepKeys keys come back, the
// scan completes, or StepTime passes; with meta it then measures the keys
// in one pipelined round trip (MEMORY USAGE and PTTL, booked in the ledger
// as Analyze books them). opt.Node and opt.Ledger are set from node and
// ledger.
func ScanStep(ctx context.Context, c *redis.Client, node string, ledger *redisinfo.Ledger, cursor uint64, opt ScanOptions, meta bool) (Step, error) {
	opt.Node, opt.Ledger = node, ledger
	opt, err := opt.normalize()
	if err != nil {
		return Step{}, err
	}
	var st Step
	deadline := time.Now().Add(StepTime)
	for {
		cctx, cancel := context.WithTimeout(ctx, opt.Timeout)
		keys, next, err := c.ScanType(cctx, cursor, opt.Match, opt.Count, opt.Type).Result()
		cancel()
		if err != nil {
			return st, fmt.Errorf("SCAN at cursor %d: %w", cursor, err)
		}
		opt.book(cursor, keys, next)
		st.Calls++
		st.Keys = append(st.Keys, keys...)
		cursor = next
		if next == 0 {
			st.Done = true
			break
		}
		if len(st.Keys) >= StepKeys || time.Now().After(deadline) {
			break
		}
	}
	st.Cursor = cursor
	if meta && len(st.Keys) > 0 {
		m, err := measureKeys(ctx, c, node, ledger, opt.Timeout, st.Keys)
		if err != nil {
			return st, err
		}
		st.Meta = m
	}
	return st, nil
}

// measureKeys sizes keys and reads their TTL in one pipelined round trip,
// booking what it sends: MEMORY USAGE is not a keyspace lookup, PTTL is
// (a hit, or a miss for a key gone since SCAN). A command the user may not
// run leaves that part unknown rather than failing.
func measureKeys(ctx context.Context, c *redis.Client, node string, ledger *redisinfo.Ledger, timeout time.Duration, batch []string) ([]KeyMeta, error) {
	mem := make([]*redis.IntCmd, len(batch))
	ttl := make([]*redis.DurationCmd, len(batch))
	pipe := c.Pipeline()
	for i, k := range batch {
		mem[i] = pipe.MemoryUsage(ctx, k, 5)
		ttl[i] = pipe.PTTL(ctx, k)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	_, err := pipe.Exec(cctx)
	cancel()
	var rerr redis.Error
	if err != nil && !errors.Is(err, redis.Nil) && !errors.As(err, &rerr) {
		return nil, fmt.Errorf("MEMORY USAGE and PTTL for %d keys: %w", len(batch), err)
	}
	out := make([]KeyMeta, len(batch))
	var hits, misses, in, outBytes int64
	for i, k := range batch {
		in += int64(respArrayLen("memory", "usage", k, "SAMPLES", "5") + respArrayLen("pttl", k))
		if n, err := mem[i].Result(); err == nil {
			out[i].Bytes = n
			outBytes += int64(intReplyLen(n))
		} else if errors.Is(err, redis.Nil) {
			outBytes += 5
		}
		if d, err := ttl[i].Result(); err == nil {
			raw := int64(d)
			if d > 0 {
				raw = int64(d / time.Millisecond)
			}
			outBytes += int64(intReplyLen(raw))
			if raw == -2 {
				misses++
			} else {
				hits++
				out[i].TTLKnown, out[i].HasTTL = true, raw != -1
			}
		}
	}
	if ledger != nil {
		ledger.Call(node, "memory|usage", int64(len(batch)))
		ledger.Call(node, "pttl", int64(len(batch)))
		ledger.Lookups(node, hits, misses)
		ledger.Bytes(node, in, outBytes)
	}
	return out, nil
}
