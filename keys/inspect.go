package keys

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/redisinfo"
)

// KeyInfo is one row of the key browser. Fields that could not be read are
// -1 (Bytes, Len, Idle, Freq) or "" (Type, Encoding).
type KeyInfo struct {
	Key      string
	Exists   bool          // false: the key vanished (deleted or expired) since SCAN listed it
	Type     string        // "string", "hash", "list", "set", "zset", "stream", or a module type
	TTL      time.Duration // NoExpiry (-1) when the key has none, Gone (-2) when !Exists
	Bytes    int64         // MEMORY USAGE key SAMPLES 5
	Idle     time.Duration // OBJECT IDLETIME, whole seconds; -1 under an LFU policy
	Freq     int64         // OBJECT FREQ (logarithmic counter); -1 unless the policy is LFU
	Encoding string        // OBJECT ENCODING: listpack, hashtable, quicklist, intset…
	Len      int64         // STRLEN, HLEN, LLEN, SCARD, ZCARD or XLEN; -1 when not read
	Err      error         // a failure for this key only (e.g. NOPERM on its key pattern): other fields may be unread
}

// ErrPolicyChanged is set as KeyInfo.Err when the server answered as if its
// eviction policy had changed between LRU and LFU since Probe: probe again.
var ErrPolicyChanged = errors.New("the eviction policy changed since it was probed: probe again")

// InspectOptions shape what Inspect reads.
type InspectOptions struct {
	// LFU: read OBJECT FREQ instead of OBJECT IDLETIME (Caps.LFU); asking
	// the other one is an error reply on the server.
	LFU bool
	// Lengths reads element counts in a second round trip. STRLEN, HLEN,
	// LLEN, SCARD, ZCARD and XLEN touch the key: they reset its idle time
	// (LRU) or bump its access counter (LFU), which changes what the server
	// evicts and what the next refresh shows as Idle, unless the
	// connection is CLIENT NO-TOUCH (Redis 7.2+, see EnableNoTouch). Caps'
	// InspectOptions turns it on only then.
	Lengths bool
}

// lengthCommand is the command that counts a type's elements.
var lengthCommand = map[string]string{
	"string": "strlen",
	"hash":   "hlen",
	"list":   "llen",
	"set":    "scard",
	"zset":   "zcard",
	"stream": "xlen",
}

// Inspect reads the browser's columns for the visible rows, lengths
// included: InspectWith(…, InspectOptions{LFU: lfu, Lengths: true}). See
// InspectOptions.Lengths for what reading lengths costs on a server without
// NO-TOUCH.
func Inspect(ctx context.Context, c redis.Cmdable, node string, ledger *redisinfo.Ledger, keys []string, lfu bool) ([]KeyInfo, error) {
	return InspectWith(ctx, c, node, ledger, keys, InspectOptions{LFU: lfu, Lengths: true})
}

// InspectWith reads the browser's columns for keys and books every
// keyspace lookup it causes in ledger, exactly as the server counts them.
//
// Round trips: one pipeline of TYPE, PTTL, OBJECT ENCODING, OBJECT
// IDLETIME (or FREQ) and MEMORY USAGE per key, none of which touch the key;
// then, with opt.Lengths, one pipeline of the length command its type calls
// for, for the keys that exist. Two pipelined round trips rather than one
// EVAL that would branch on the type inside the server: EVAL needs
// +@scripting, which read-only monitoring users rarely have; a script over
// several keys is CROSSSLOT in a cluster; it would show in the commandstats
// and slowlog the dashboard displays; and it touches keys all the same. The
// second round trip is one small O(1) command per key. A third, rare one
// asks TYPE about strings and streams whose length came back 0: an empty
// one and a missing key both answer 0, and the server counted a hit for
// one and a miss for the other.
//
// A key gone since SCAN is Exists=false, not an error; a key this user may
// not read carries its own Err. The error is for the round trip as a whole
// (connection lost, timeout): nothing is returned then.
func InspectWith(ctx context.Context, c redis.Cmdable, node string, ledger *redisinfo.Ledger, keys []string, opt InspectOptions) ([]KeyInfo, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	type row struct {
		typ   *redis.StatusCmd
		ttl   *redis.DurationCmd
		enc   *redis.StringCmd
		idle  *redis.DurationCmd
		freq  *redis.IntCmd
		bytes *redis.IntCmd
	}
	rows := make([]row, len(keys))
	pipe := c.Pipeline()
	for i, k := range keys {
		r := &rows[i]
		r.typ = pipe.Type(ctx, k)
		r.ttl = pipe.PTTL(ctx, k)
		r.enc = pipe.ObjectEncoding(ctx, k)
		if opt.LFU {
			r.freq = pipe.ObjectFreq(ctx, k)
		} else {
			r.idle = pipe.ObjectIdleTime(ctx, k)
		}
		r.bytes = pipe.MemoryUsage(ctx, k, 5)
	}
	// Exec's error is the first command's error; each reply is looked at
	// below, so a key-level error reply does not fail the whole page.
	_, _ = pipe.Exec(ctx)

	out := make([]KeyInfo, len(keys))
	for i, k := range keys {
		r := rows[i]
		ki := KeyInfo{Key: k, TTL: NoExpiry, Bytes: -1, Idle: -1, Freq: -1, Len: -1}
		var failed error
		// reply books one reply of a key-reading command and keeps the
		// row's first error; a redis.Nil reply means the key is gone.
		reply := func(name string, err error, found bool) bool {
			bookLookup(ledger, node, name, err, found)
			if f := transportErr(err); f != nil {
				if failed == nil {
					failed = f
				}
				return false
			}
			if errors.Is(err, redis.Nil) || err == nil && !found {
				ki.Exists = false
			}
			keepRowErr(&ki, err)
			return err == nil && found
		}

		typ, err := r.typ.Result()
		if reply("type", err, typ != "none") {
			ki.Exists, ki.Type = true, typ
		}
		if ttl, err := r.ttl.Result(); reply("pttl", err, ttl != Gone) {
			ki.TTL = ttl
		}
		if enc, err := r.enc.Result(); reply("object|encoding", err, true) {
			ki.Encoding = enc
		}
		if opt.LFU {
			if freq, err := r.freq.Result(); reply("object|freq", err, true) {
				ki.Freq = freq
			}
		} else {
			if idle, err := r.idle.Result(); reply("object|idletime", err, true) {
				ki.Idle = idle
			}
		}
		// MEMORY USAGE reads the keyspace without counting a lookup.
		n, err := r.bytes.Result()
		if err == nil || errors.Is(err, redis.Nil) || isServerReply(err) && !isRejected(err) {
			ledger.Call(node, "memory|usage", 1)
		}
		if failed == nil {
			failed = transportErr(err)
		}
		if failed != nil {
			return nil, failed
		}
		if err == nil {
			ki.Bytes = n
		}
		keepRowErr(&ki, err)

		if !ki.Exists && ki.Err == nil {
			ki = goneRow(ki)
		}
		out[i] = ki
	}

	if opt.Lengths {
		if err := readLengths(ctx, c, node, ledger, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readLengths fills Len for the rows that exist, in one pipeline.
func readLengths(ctx context.Context, c redis.Cmdable, node string, ledger *redisinfo.Ledger, rows []KeyInfo) error {
	type pending struct {
		i    int
		name string
		cmd  *redis.IntCmd
	}
	var ps []pending
	pipe := c.Pipeline()
	for i, ki := range rows {
		name, ok := lengthCommand[ki.Type]
		if !ki.Exists || !ok {
			continue
		}
		var cmd *redis.IntCmd
		switch name {
		case "strlen":
			cmd = pipe.StrLen(ctx, ki.Key)
		case "hlen":
			cmd = pipe.HLen(ctx, ki.Key)
		case "llen":
			cmd = pipe.LLen(ctx, ki.Key)
		case "scard":
			cmd = pipe.SCard(ctx, ki.Key)
		case "zcard":
			cmd = pipe.ZCard(ctx, ki.Key)
		case "xlen":
			cmd = pipe.XLen(ctx, ki.Key)
		}
		ps = append(ps, pending{i, name, cmd})
	}
	if len(ps) == 0 {
		return nil
	}
	_, _ = pipe.Exec(ctx)
	var unsure []pending
	for _, p := range ps {
		n, err := p.cmd.Result()
		if err := transportErr(err); err != nil {
			return err
		}
		switch {
		case err == nil && n == 0 && (rows[p.i].Type == "string" || rows[p.i].Type == "stream"):
			// An empty string or stream exists with length 0, and a missing
			// key also answers 0: settled below.
			unsure = append(unsure, p)
		case err == nil:
			// Only strings and streams can exist empty: 0 here is a miss.
			bookLookup(ledger, node, p.name, err, n > 0)
			if n > 0 {
				rows[p.i].Len = n
			} else {
				rows[p.i] = goneRow(rows[p.i])
			}
		default:
			bookLookup(ledger, node, p.name, err, true)
			keepRowErr(&rows[p.i], err)
		}
	}
	if len(unsure) == 0 {
		return nil
	}
	// Rare (empty strings and streams are): one more small round trip asks
	// TYPE whether the key is still there, which tells whether the length
	// command counted a hit or a miss.
	pipe = c.Pipeline()
	types := make([]*redis.StatusCmd, len(unsure))
	for j, p := range unsure {
		types[j] = pipe.Type(ctx, rows[p.i].Key)
	}
	_, _ = pipe.Exec(ctx)
	for j, p := range unsure {
		typ, err := types[j].Result()
		bookLookup(ledger, node, "type", err, typ != "none")
		if err := transportErr(err); err != nil {
			return err
		}
		found := err != nil || typ != "none"
		bookLookup(ledger, node, p.name, nil, found)
		if found {
			rows[p.i].Len = 0
		} else {
			rows[p.i] = goneRow(rows[p.i])
		}
	}
	return nil
}

// goneRow is the row of a key that vanished part way through being read:
// what was read belongs to a key that is no more, so only the name stays.
func goneRow(ki KeyInfo) KeyInfo {
	return KeyInfo{Key: ki.Key, TTL: Gone, Bytes: -1, Idle: -1, Freq: -1, Len: -1, Err: ki.Err}
}

// transportErr returns err when it is not a reply from the server (nor
// redis.Nil): the connection failed and the whole call fails with it.
func transportErr(err error) error {
	if err == nil || errors.Is(err, redis.Nil) || isServerReply(err) {
		return nil
	}
	return err
}

// keepRowErr records the first key-level error of a row.
func keepRowErr(ki *KeyInfo, err error) {
	if err == nil || errors.Is(err, redis.Nil) || ki.Err != nil {
		return
	}
	if isPolicyError(err) {
		err = ErrPolicyChanged
	}
	ki.Err = err
}
