package keys

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/redisinfo"
)

// DefaultCount is the COUNT hint redtop sends with SCAN. redis-cli --scan
// sends none, so the server's default of 10 applies: a hundred times the
// round trips for the same keys.
const DefaultCount = 1000

// DefaultTimeout bounds each call when ScanOptions.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// ErrStop, returned by a batch callback, ends a scan early without error.
var ErrStop = errors.New("keys: stop scanning")

// ScanOptions shape a SCAN loop.
type ScanOptions struct {
	Match   string        // MATCH pattern; "" or "*" for every key
	Type    string        // TYPE filter (string, list, set, zset, hash, stream); "" for any
	Count   int64         // COUNT hint per call; 0 means DefaultCount
	Timeout time.Duration // deadline of each call; 0 means DefaultTimeout

	// Node and Ledger book each SCAN (and the DBSIZE at the start) as
	// redtop's own commands. SCAN does not count as a keyspace hit or miss.
	Node   string
	Ledger *redisinfo.Ledger

	// sequential turns off the overlap of the next call with the
	// callback, to measure what the overlap buys.
	sequential bool
	// guard, when set, is called before each SCAN call and, with final,
	// once the cursor comes back to 0; its error ends the scan as a failed
	// call would (a cluster master's role check: a master demoted mid-scan
	// may have dropped its keys for a resync, and its cursor then ends
	// early).
	guard func(ctx context.Context, final bool) error

	// Progress, when set, is called for each SCAN reply, on the goroutine
	// that called Scan, just before its batch goes to the callback (so the
	// callback can read it).
	Progress func(Progress)
}

// Progress tells how far a scan has gone.
type Progress struct {
	Scanned int64  // keys delivered so far (after MATCH and TYPE)
	Total   int64  // DBSIZE at the start: an estimate, the keyspace moves; -1 if unknown
	Cursor  uint64 // the cursor of the next call; 0 once the scan is complete
	Calls   int64  // SCAN calls so far
}

// Fraction estimates the share of the keyspace visited so far, from the
// cursor alone, whatever MATCH filtered out. SCAN walks the hash table's
// buckets in reverse-binary order, so the cursor's bits read backwards
// are the visited share of the table, whatever its size. It is 1 when the
// scan is complete. (A table resized mid-scan, or a cluster node with
// per-slot tables (Redis 7.4+), makes it approximate.)
func (p Progress) Fraction() float64 {
	if p.Cursor == 0 {
		if p.Calls > 0 {
			return 1
		}
		return 0
	}
	return float64(bits.Reverse64(p.Cursor)) / math.Exp2(64)
}

// ScanStats sum up a scan.
type ScanStats struct {
	Progress               // where the scan stopped
	Complete bool          // the cursor came back to 0
	Elapsed  time.Duration // wall time
}

// coreTypes are the names SCAN's TYPE option knows on every server. The
// server compares them case-insensitively and silently returns nothing
// for a name it does not know, so a typo would look like an empty result.
var coreTypes = []string{"string", "list", "set", "zset", "hash", "stream"}

// moduleTypes are the type names of the common modules (RedisJSON,
// RedisTimeSeries, RedisBloom), accepted as written.
var moduleTypes = []string{"ReJSON-RL", "TSDB-TYPE", "MBbloom--", "MBbloomCF", "CMSk-TYPE", "TopK-TYPE", "TDIS-TYPE"}

// ValidateType checks a SCAN TYPE name and returns it as the server
// spells it.
func ValidateType(t string) (string, error) {
	for _, c := range coreTypes {
		if strings.EqualFold(t, c) {
			return c, nil
		}
	}
	for _, m := range moduleTypes {
		if t == m {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown type %q: want one of %s (or a module type such as ReJSON-RL)",
		t, strings.Join(coreTypes, ", "))
}

// Scan runs SCAN over the whole keyspace of c's database and hands every
// batch of keys to fn, in the order the server returns them. It returns
// when the cursor comes back to 0, when fn returns an error (ErrStop ends
// the scan without one), when a call fails or when ctx is done.
//
// The next call is sent while fn handles the current batch, so network
// and server time overlap with the caller's work; fn may keep the slice.
//
// Duplicates: SCAN may return a key more than once when the table is
// resized during the scan. Scan does not remove them: that would take a
// set of every key seen, memory proportional to the keyspace, which is
// what the prefix tree exists to avoid. Callers that must not count twice
// keep their own set for small results.
func Scan(ctx context.Context, c *redis.Client, opt ScanOptions, fn func(batch []string) error) (ScanStats, error) {
	start := time.Now()
	opt, err := opt.normalize()
	if err != nil {
		return ScanStats{}, err
	}
	st := ScanStats{Progress: Progress{Total: -1}}

	total, err := dbsize(ctx, c, opt)
	switch {
	case err == nil:
		st.Total = total
	case isNoPerm(err):
		// SCAN may still be allowed: go on without a total.
	default:
		return st, err
	}

	ctx, cancel := context.WithCancel(ctx)
	pages := make(chan page, 1)
	done := make(chan struct{})
	var ack chan struct{} // sequential: the fetcher waits for each batch to be handled
	if opt.sequential {
		pages, ack = make(chan page), make(chan struct{})
	}
	go func() {
		defer close(done)
		defer close(pages)
		fetch(ctx, c, opt, pages, ack)
	}()
	defer func() {
		cancel()
		for range pages { // let the fetcher finish its call and exit
		}
		<-done
	}()

	for pg := range pages {
		if pg.err != nil {
			st.Elapsed = time.Since(start)
			if ctx.Err() != nil && errors.Is(pg.err, context.Canceled) {
				return st, ctx.Err()
			}
			return st, fmt.Errorf("SCAN at cursor %d after %d keys: %w", st.Cursor, st.Scanned, pg.err)
		}
		st.Calls++
		st.Cursor = pg.cursor
		st.Scanned += int64(len(pg.keys))
		if pg.cursor == 0 {
			st.Complete = true
		}
		if opt.Progress != nil {
			opt.Progress(st.Progress)
		}
		if len(pg.keys) > 0 {
			if err := fn(pg.keys); err != nil {
				st.Elapsed = time.Since(start)
				if errors.Is(err, ErrStop) {
					return st, nil
				}
				return st, err
			}
		}
		if ack != nil && pg.cursor != 0 {
			select {
			case ack <- struct{}{}:
			case <-ctx.Done():
			}
		}
	}
	st.Elapsed = time.Since(start)
	if !st.Complete {
		return st, ctx.Err()
	}
	return st, nil
}

func (opt ScanOptions) normalize() (ScanOptions, error) {
	if opt.Match == "*" {
		opt.Match = ""
	}
	if opt.Count == 0 {
		opt.Count = DefaultCount
	}
	if opt.Count < 0 {
		return opt, fmt.Errorf("COUNT must be positive, not %d", opt.Count)
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.Type != "" {
		t, err := ValidateType(opt.Type)
		if err != nil {
			return opt, err
		}
		opt.Type = t
	}
	return opt, nil
}

type page struct {
	keys   []string
	cursor uint64
	err    error
}

// fetch walks the cursor, one call at a time, each with its deadline.
func fetch(ctx context.Context, c *redis.Client, opt ScanOptions, out chan<- page, ack <-chan struct{}) {
	var cursor uint64
	for {
		if opt.guard != nil {
			if err := opt.guard(ctx, false); err != nil {
				select {
				case out <- page{cursor: cursor, err: err}:
				case <-ctx.Done():
				}
				return
			}
		}
		cctx, cancel := context.WithTimeout(ctx, opt.Timeout)
		keys, next, err := c.ScanType(cctx, cursor, opt.Match, opt.Count, opt.Type).Result()
		cancel()
		if err == nil {
			opt.book(cursor, keys, next)
			if next == 0 && opt.guard != nil {
				if gerr := opt.guard(ctx, true); gerr != nil {
					keys, next, err = nil, cursor, gerr
				}
			}
		}
		select {
		case out <- page{keys: keys, cursor: next, err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil || next == 0 {
			return
		}
		if ack != nil {
			select {
			case <-ack:
			case <-ctx.Done():
				return
			}
		}
		cursor = next
	}
}

func dbsize(ctx context.Context, c *redis.Client, opt ScanOptions) (int64, error) {
	cctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	n, err := c.DBSize(cctx).Result()
	if err == nil && opt.Ledger != nil {
		opt.Ledger.Call(opt.Node, "dbsize", 1)
		opt.Ledger.Bytes(opt.Node, int64(respArrayLen("dbsize")), int64(intReplyLen(n)))
	}
	return n, err
}

// book records one SCAN call and its bytes on the wire as the server
// counts them, so the dashboard can take them out of its rates.
func (opt ScanOptions) book(cursor uint64, keys []string, next uint64) {
	if opt.Ledger == nil {
		return
	}
	args := []string{"scan", strconv.FormatUint(cursor, 10)}
	if opt.Match != "" {
		args = append(args, "match", opt.Match)
	}
	args = append(args, "count", strconv.FormatInt(opt.Count, 10))
	if opt.Type != "" {
		args = append(args, "type", opt.Type)
	}
	out := 4 + bulkLen(len(strconv.FormatUint(next, 10))) + arrayHeaderLen(len(keys))
	for _, k := range keys {
		out += bulkLen(len(k))
	}
	opt.Ledger.Call(opt.Node, "scan", 1)
	opt.Ledger.Bytes(opt.Node, int64(respArrayLen(args...)), int64(out))
}

// RESP sizes, to book bytes as the server counts them.
func bulkLen(n int) int        { return 1 + len(strconv.Itoa(n)) + 2 + n + 2 }
func arrayHeaderLen(n int) int { return 1 + len(strconv.Itoa(n)) + 2 }
func intReplyLen(n int64) int  { return 1 + len(strconv.FormatInt(n, 10)) + 2 }

func respArrayLen(args ...string) int {
	n := arrayHeaderLen(len(args))
	for _, a := range args {
		n += bulkLen(len(a))
	}
	return n
}

func isNoPerm(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "NOPERM")
}
