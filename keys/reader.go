// Package keys reads and changes the keyspace for the key browser and the
// bulk operations. It knows nothing about terminals.
package keys

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/redisinfo"
)

// Reader sends redtop's reads of keys and books every keyspace lookup they
// cause in the ledger, so the overview can take them out of the hit rate it
// shows. TYPE, TTL, EXISTS and GET count as hits or misses on the server;
// SCAN and MEMORY USAGE do not.
type Reader struct {
	c      *redis.Client
	node   string
	ledger *redisinfo.Ledger
}

// NewReader reads through c, booking lookups under node in ledger.
func NewReader(c *redis.Client, node string, ledger *redisinfo.Ledger) *Reader {
	return &Reader{c: c, node: node, ledger: ledger}
}

// book records one command and whether its lookups hit.
func (r *Reader) book(cmd string, hits, misses int64) {
	r.ledger.Call(r.node, cmd, 1)
	r.ledger.Lookups(r.node, hits, misses)
}

// Type returns the key's type, "none" when it does not exist.
func (r *Reader) Type(ctx context.Context, key string) (string, error) {
	t, err := r.c.Type(ctx, key).Result()
	if err != nil {
		return "", err
	}
	if t == "none" {
		r.book("type", 0, 1)
	} else {
		r.book("type", 1, 0)
	}
	return t, nil
}

// TTL returns the remaining time to live: -1 for no expiry, -2 when the key
// does not exist (as Redis says).
func (r *Reader) TTL(ctx context.Context, key string) (time.Duration, error) {
	d, err := r.c.PTTL(ctx, key).Result()
	if err != nil {
		return 0, err
	}
	if d == -2 {
		r.book("pttl", 0, 1)
	} else {
		r.book("pttl", 1, 0)
	}
	return d, nil
}

// Exists counts how many of keys exist.
func (r *Reader) Exists(ctx context.Context, keys ...string) (int64, error) {
	n, err := r.c.Exists(ctx, keys...).Result()
	if err != nil {
		return 0, err
	}
	r.book("exists", n, int64(len(keys))-n)
	return n, nil
}

// Get returns a string value; ok is false when the key does not exist.
func (r *Reader) Get(ctx context.Context, key string) (val []byte, ok bool, err error) {
	b, err := r.c.Get(ctx, key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		r.book("get", 0, 1)
		return nil, false, nil
	case err != nil:
		if isWrongType(err) {
			// WRONGTYPE: the lookup happened and found the key.
			r.book("get", 1, 0)
		}
		return nil, false, err
	}
	r.book("get", 1, 0)
	return b, true, nil
}

func isWrongType(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && len(err.Error()) > 9 && err.Error()[:9] == "WRONGTYPE"
}
