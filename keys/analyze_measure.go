package keys

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// measure sizes a batch in one round trip and adds it to the tree.
func (a *analysis) measure(ctx context.Context, batch []string) error {
	if len(a.sample) < 2000 {
		a.sample = append(a.sample, batch[:min(len(batch), 2000-len(a.sample))]...)
	}
	if !a.wantMem && !a.wantTTL {
		for _, k := range batch {
			a.tree.Add(k, a.fixedTTL(KeyMeta{}))
		}
		return nil
	}
	var res rawResult
	var err error
	if a.raw != nil {
		res, err = a.raw.measure(ctx, a.opt.Timeout, batch, a.wantMem, a.wantTTL)
	} else {
		res, err = a.pipeline(ctx, batch)
	}
	if err != nil {
		return fmt.Errorf("MEMORY USAGE and PTTL for %d keys: %w", len(batch), err)
	}
	for _, e := range []struct {
		err  error
		want *bool
		what string
	}{{res.memErr, &a.wantMem, "MEMORY USAGE is not allowed for this user: sizes unknown"},
		{res.ttlErr, &a.wantTTL, "PTTL is not allowed for this user: TTL coverage unknown"}} {
		switch {
		case e.err == nil:
		case isNoPerm(e.err):
			*e.want = false
			a.warns = append(a.warns, e.what+" ("+e.err.Error()+")")
		default:
			return e.err
		}
	}

	var hits, misses int64
	for i, k := range batch {
		var m KeyMeta
		gone := false
		if res.mem != nil {
			switch b := res.mem[i]; {
			case b < 0:
				gone = true
			default:
				m.Bytes = b
			}
		}
		if res.ttl != nil && res.ttlErr == nil {
			switch d := res.ttl[i]; d {
			case -2:
				misses++
				gone = true
			default:
				hits++
				m.TTLKnown, m.HasTTL = true, d != -1
			}
		}
		if gone {
			a.gone++
			continue
		}
		a.tree.Add(k, a.fixedTTL(m))
	}
	if l := a.opt.Ledger; l != nil {
		if res.mem != nil {
			l.Call(a.opt.Node, "memory|usage", int64(len(batch)))
		}
		if res.ttl != nil {
			l.Call(a.opt.Node, "pttl", int64(len(batch)))
			l.Lookups(a.opt.Node, hits, misses)
		}
		l.Bytes(a.opt.Node, int64(res.in), int64(res.out))
	}
	return nil
}

// skipPTTL asks INFO keyspace how many keys of the database expire. When
// none do, or all do, PTTL has nothing to tell key by key: skipping it
// halves the commands sent (a third of the server's work, measured) and
// the keyspace lookups booked. A key given or stripped of a TTL during
// the scan is then counted as the database was at the start.
func (a *analysis) skipPTTL(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, a.opt.Timeout)
	defer cancel()
	text, err := a.c.Info(cctx, "keyspace").Result()
	if err != nil {
		return // not allowed, or failing: PTTL it is
	}
	if l := a.opt.Ledger; l != nil {
		l.Call(a.opt.Node, "info", 1)
		l.Bytes(a.opt.Node, int64(respArrayLen("info", "keyspace")), int64(bulkLen(len(text))))
	}
	keys, expires, ok := keyspaceLine(text, a.c.Options().DB)
	switch {
	case !ok:
	case expires == 0:
		a.wantTTL, a.ttlAll = false, new(false)
	case expires == keys:
		a.wantTTL, a.ttlAll = false, new(true)
	}
}

// keyspaceLine reads "db0:keys=12,expires=3,avg_ttl=0" for a database.
// A database with no keys has no line: it counts as none expiring.
func keyspaceLine(text string, db int) (keys, expires int64, ok bool) {
	prefix := "db" + strconv.Itoa(db) + ":"
	for _, line := range strings.Split(text, "\n") {
		rest, found := strings.CutPrefix(strings.TrimSpace(line), prefix)
		if !found {
			continue
		}
		var gotKeys, gotExpires bool
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				continue
			}
			switch k {
			case "keys":
				keys, gotKeys = n, true
			case "expires":
				expires, gotExpires = n, true
			}
		}
		return keys, expires, gotKeys && gotExpires
	}
	return 0, 0, strings.Contains(text, "# Keyspace")
}

// fixedTTL fills in the TTL when skipPTTL found it the same for all keys.
func (a *analysis) fixedTTL(m KeyMeta) KeyMeta {
	if a.ttlAll != nil {
		m.TTLKnown, m.HasTTL = true, *a.ttlAll
	}
	return m
}

// pipeline does what rawConn.measure does, through go-redis: for clients
// whose connections rawConn cannot reproduce (credential providers,
// OnConnect hooks).
func (a *analysis) pipeline(ctx context.Context, batch []string) (rawResult, error) {
	var res rawResult
	mem := make([]*redis.IntCmd, len(batch))
	ttl := make([]*redis.DurationCmd, len(batch))
	pipe := a.c.Pipeline()
	for i, k := range batch {
		if a.wantMem {
			mem[i] = pipe.MemoryUsage(ctx, k)
			res.in += respArrayLen("memory", "usage", k)
		}
		if a.wantTTL {
			ttl[i] = pipe.PTTL(ctx, k)
			res.in += respArrayLen("pttl", k)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, a.opt.Timeout)
	_, err := pipe.Exec(cctx)
	cancel()
	var rerr redis.Error
	if err != nil && !errors.Is(err, redis.Nil) && !errors.As(err, &rerr) {
		return res, err
	}
	if a.wantMem {
		res.mem = make([]int64, len(batch))
	}
	if a.wantTTL {
		res.ttl = make([]int64, len(batch))
	}
	for i := range batch {
		if a.wantMem {
			switch n, err := mem[i].Result(); {
			case err == nil:
				res.mem[i] = n
				res.out += intReplyLen(n)
			case errors.Is(err, redis.Nil):
				res.mem[i] = -1
				res.out += len("$-1\r\n")
			default:
				res.memErr = cmp0(res.memErr, err)
			}
		}
		if a.wantTTL {
			switch d, err := ttl[i].Result(); {
			case err == nil:
				raw := int64(d) // -1 (no expiry) and -2 (gone) come back as is
				if d > 0 {
					raw = int64(d / time.Millisecond)
				}
				res.ttl[i] = raw
				res.out += intReplyLen(raw)
			default:
				res.ttlErr = cmp0(res.ttlErr, err)
			}
		}
	}
	return res, nil
}
