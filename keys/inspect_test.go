package keys

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/internal/redisproc"
	"redtop/redisinfo"
)

// seedKeys writes one key of each kind the browser shows, plus the odd
// ones: empty string, empty stream, an int-encoded string, and a key that
// expires before it is inspected.
func seedKeys(t testing.TB, r *rig) {
	t.Helper()
	ctx := context.Background()
	a := r.admin
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.Set(ctx, "s", "hello", 100*time.Second).Err())
	must(a.Set(ctx, "empty", "", 0).Err())
	must(a.Set(ctx, "n", "12345", 0).Err())
	must(a.Set(ctx, "raw", strings.Repeat("x", 1000), 0).Err())
	must(a.HSet(ctx, "h", "a", "1", "b", "2", "c", "3").Err())
	must(a.RPush(ctx, "l", "1", "2", "3", "4").Err())
	must(a.SAdd(ctx, "set", "1", "2").Err())
	must(a.ZAdd(ctx, "z", redis.Z{Score: 1, Member: "a"}, redis.Z{Score: 2, Member: "b"}, redis.Z{Score: 3, Member: "c"}).Err())
	must(a.XAdd(ctx, &redis.XAddArgs{Stream: "x", ID: "1-1", Values: []any{"f", "v"}}).Err())
	must(a.XAdd(ctx, &redis.XAddArgs{Stream: "x", ID: "1-2", Values: []any{"f", "w"}}).Err())
	must(a.XAdd(ctx, &redis.XAddArgs{Stream: "xe", ID: "1-1", Values: []any{"f", "v"}}).Err())
	must(a.XDel(ctx, "xe", "1-1").Err())
	must(a.Set(ctx, "exp", "v", time.Millisecond).Err())
	time.Sleep(20 * time.Millisecond) // "exp" is now gone, though not yet deleted
}

var seededKeys = []string{"s", "empty", "n", "raw", "h", "l", "set", "z", "x", "xe", "nope", "exp"}

func TestInspect(t *testing.T) {
	ctx := context.Background()
	type want struct {
		typ, enc string
		len      int64
		ttl      bool // has a TTL
	}
	wants := map[string]want{
		"s":     {"string", "embstr", 5, true},
		"empty": {"string", "embstr", 0, false},
		"n":     {"string", "int", 5, false},
		"raw":   {"string", "raw", 1000, false},
		"h":     {"hash", "listpack", 3, false},
		"l":     {"list", "quicklist", 4, false},
		"set":   {"set", "intset", 2, false},
		"z":     {"zset", "listpack", 3, false},
		"x":     {"stream", "stream", 2, false},
		"xe":    {"stream", "stream", 0, false},
	}
	for _, tt := range []struct {
		name    string
		args    []string
		opt     InspectOptions
		lfu     bool // server's policy
		wantErr error
	}{
		{name: "lru with lengths", opt: InspectOptions{Lengths: true}},
		{name: "lru without lengths", opt: InspectOptions{}},
		{name: "lfu", args: []string{"--maxmemory-policy", "allkeys-lfu"}, lfu: true, opt: InspectOptions{LFU: true, Lengths: true}},
		{name: "policy changed to lfu since probe", args: []string{"--maxmemory-policy", "allkeys-lfu"}, lfu: true, opt: InspectOptions{Lengths: true}, wantErr: ErrPolicyChanged},
		{name: "policy changed to lru since probe", opt: InspectOptions{LFU: true, Lengths: true}, wantErr: ErrPolicyChanged},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, redisproc.Options{Unix: true, Args: tt.args})
			seedKeys(t, r)
			c := r.client(t, "", "")
			warm(t, c)
			ledger := redisinfo.NewLedger()
			before := r.counts(t)
			rows, err := InspectWith(ctx, c, "n", ledger, seededKeys, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			checkBooked(t, before, r.counts(t), ledger.Get("n"))
			if len(rows) != len(seededKeys) {
				t.Fatalf("%d rows for %d keys", len(rows), len(seededKeys))
			}
			for i, ki := range rows {
				if ki.Key != seededKeys[i] {
					t.Fatalf("row %d is %q, want %q", i, ki.Key, seededKeys[i])
				}
				w, ok := wants[ki.Key]
				if !ok { // "nope", "exp": gone
					if ki.Exists || ki.Err != nil || ki.TTL != Gone || ki.Type != "" || ki.Len != -1 || ki.Bytes != -1 {
						t.Errorf("%s: want a gone row, got %+v", ki.Key, ki)
					}
					continue
				}
				if !ki.Exists || ki.Type != w.typ || ki.Encoding != w.enc {
					t.Errorf("%s: got %+v, want %+v", ki.Key, ki, w)
				}
				if tt.wantErr != nil {
					if !errors.Is(ki.Err, tt.wantErr) {
						t.Errorf("%s: Err %v, want %v", ki.Key, ki.Err, tt.wantErr)
					}
				} else if ki.Err != nil {
					t.Errorf("%s: %v", ki.Key, ki.Err)
				}
				switch {
				case tt.opt.Lengths && ki.Len != w.len:
					t.Errorf("%s: Len %d, want %d", ki.Key, ki.Len, w.len)
				case !tt.opt.Lengths && ki.Len != -1:
					t.Errorf("%s: Len %d read without Lengths", ki.Key, ki.Len)
				}
				if w.ttl != (ki.TTL > 90*time.Second && ki.TTL <= 100*time.Second) || !w.ttl && ki.TTL != NoExpiry {
					t.Errorf("%s: TTL %v", ki.Key, ki.TTL)
				}
				if ki.Bytes <= 0 {
					t.Errorf("%s: Bytes %d", ki.Key, ki.Bytes)
				}
				switch {
				case tt.wantErr != nil:
					if ki.Idle != -1 || ki.Freq != -1 {
						t.Errorf("%s: Idle %v Freq %d under the wrong policy", ki.Key, ki.Idle, ki.Freq)
					}
				case tt.lfu:
					if ki.Idle != -1 || ki.Freq < 0 {
						t.Errorf("%s: Idle %v Freq %d under LFU", ki.Key, ki.Idle, ki.Freq)
					}
				default:
					if ki.Idle < 0 || ki.Idle > time.Minute || ki.Freq != -1 {
						t.Errorf("%s: Idle %v Freq %d under LRU", ki.Key, ki.Idle, ki.Freq)
					}
				}
			}
		})
	}
}

// TestInspectKeyLevelErrors: a key the user may not read fails its own row
// only, and refused commands are booked as neither calls nor lookups.
func TestInspectKeyLevelErrors(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, redisproc.Options{Unix: true})
	r.addUser(t, "app", "~app:*", "+@read")
	r.admin.Set(ctx, "app:1", "v", 0)
	r.admin.Set(ctx, "other", "v", 0)
	c := r.client(t, "app", "pw")
	warm(t, c)
	ledger := redisinfo.NewLedger()
	before := r.counts(t)
	rows, err := Inspect(ctx, c, "n", ledger, []string{"app:1", "other", "app:gone"}, false)
	if err != nil {
		t.Fatal(err)
	}
	checkBooked(t, before, r.counts(t), ledger.Get("n"))
	if !rows[0].Exists || rows[0].Len != 1 || rows[0].Err != nil {
		t.Errorf("app:1: %+v", rows[0])
	}
	if rows[1].Exists || rows[1].Err == nil || !strings.HasPrefix(rows[1].Err.Error(), "NOPERM") || rows[1].TTL == Gone {
		t.Errorf("other: %+v", rows[1])
	}
	if rows[2].Exists || rows[2].Err != nil || rows[2].TTL != Gone {
		t.Errorf("app:gone: %+v", rows[2])
	}
}

// vanishHook deletes keys through another client right after the first
// pipeline redtop sends, to make keys vanish between Inspect's round trips.
type vanishHook struct {
	del   func()
	calls atomic.Int32
}

func (h *vanishHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *vanishHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *vanishHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if h.calls.Add(1) == 1 {
			h.del()
		}
		return err
	}
}

// TestInspectKeyVanishesBetweenRoundTrips: keys deleted after the first
// round trip come back as gone rows, and the lookups stay exactly booked,
// including a string whose STRLEN answered 0 (empty, or gone?).
func TestInspectKeyVanishesBetweenRoundTrips(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, redisproc.Options{Unix: true})
	seedKeys(t, r)
	c := r.client(t, "", "")
	warm(t, c)
	gone := []string{"s", "empty", "h", "xe"}
	c.AddHook(&vanishHook{del: func() { r.admin.Del(ctx, gone...) }})
	ledger := redisinfo.NewLedger()
	before := r.counts(t)
	rows, err := Inspect(ctx, c, "n", ledger, seededKeys, false)
	if err != nil {
		t.Fatal(err)
	}
	after := r.counts(t)
	after.total-- // the admin's DEL
	after.calls["del"]--
	checkBooked(t, before, after, ledger.Get("n"))
	for _, ki := range rows {
		vanished := false
		for _, g := range gone {
			vanished = vanished || ki.Key == g
		}
		if vanished && (ki.Exists || ki.TTL != Gone) {
			t.Errorf("%s vanished but reads %+v", ki.Key, ki)
		}
		if !vanished && wantsExist(ki.Key) && (!ki.Exists || ki.Len < 0) {
			t.Errorf("%s: %+v", ki.Key, ki)
		}
	}
}

func wantsExist(k string) bool { return k != "nope" && k != "exp" }

// TestInspectLengthsTouchKeys pins the trap InspectOptions.Lengths
// documents: on a server without NO-TOUCH (7.0 here), the first pipeline
// leaves idle time alone, the length commands reset it.
func TestInspectLengthsTouchKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t, redisproc.Options{Unix: true})
	r.admin.HSet(ctx, "h", "f", "v")
	c := r.client(t, "", "")
	time.Sleep(2100 * time.Millisecond) // idle time counts in whole seconds
	idle := func(opt InspectOptions) time.Duration {
		t.Helper()
		rows, err := InspectWith(ctx, c, "n", nil, []string{"h"}, opt)
		if err != nil {
			t.Fatal(err)
		}
		return rows[0].Idle
	}
	if d := idle(InspectOptions{}); d < 2*time.Second {
		t.Fatalf("idle %v before any touch", d)
	}
	if d := idle(InspectOptions{}); d < 2*time.Second {
		t.Fatalf("TYPE, PTTL, OBJECT or MEMORY USAGE touched the key: idle %v", d)
	}
	if d := idle(InspectOptions{Lengths: true}); d < 2*time.Second {
		t.Fatalf("idle read after the length: %v", d)
	}
	if d := idle(InspectOptions{}); d >= 2*time.Second {
		t.Fatalf("HLEN did not touch the key on 7.0 (idle %v): has the server NO-TOUCH on?", d)
	}
}

func TestInspectNoKeysNoRoundTrip(t *testing.T) {
	rows, err := Inspect(context.Background(), nil, "n", nil, nil, false)
	if rows != nil || err != nil {
		t.Fatal(rows, err)
	}
}

// TestInspectServerGone: a lost connection fails the call as a whole.
func TestInspectServerGone(t *testing.T) {
	r := newRig(t, redisproc.Options{Unix: true})
	c := r.client(t, "", "")
	warm(t, c)
	r.srv.Kill()
	rows, err := Inspect(context.Background(), c, "n", nil, []string{"a", "b"}, false)
	if err == nil || rows != nil {
		t.Fatalf("rows %+v err %v", rows, err)
	}
}

// TestBookingMatchesServer runs every read and write of this package, on
// keys present, absent, of the wrong type and refused, under LRU and LFU,
// and checks that the ledger holds exactly what the server counted:
// keyspace hits, misses, commands processed and calls per command.
func TestBookingMatchesServer(t *testing.T) {
	for _, lfu := range []bool{false, true} {
		name := "lru"
		var args []string
		if lfu {
			name, args = "lfu", []string{"--maxmemory-policy", "allkeys-lfu"}
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t, redisproc.Options{Unix: true, Args: args})
			seedKeys(t, r)
			r.admin.Expire(ctx, "h", time.Hour)
			c := r.client(t, "", "")
			wc := r.writer(t, "", "")
			warm(t, c)
			warm(t, wc)
			ledger := redisinfo.NewLedger()
			before := r.counts(t)

			caps, err := Probe(ctx, c, "n", ledger)
			if err != nil || caps.LFU != lfu {
				t.Fatalf("caps %+v err %v", caps, err)
			}
			if _, err := Inspect(ctx, c, "n", ledger, seededKeys, caps.LFU); err != nil {
				t.Fatal(err)
			}
			if _, err := Inspect(ctx, c, "n", ledger, seededKeys, !caps.LFU); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"s", "empty", "nope", "h"} {
				ReadString(ctx, c, "n", ledger, k, 3)
			}
			for _, k := range []struct{ key, typ string }{
				{"h", "hash"}, {"l", "list"}, {"set", "set"}, {"z", "zset"}, {"x", "stream"}, {"xe", "stream"},
				{"nope", "hash"}, {"s", "hash"}, {"h", "list"},
			} {
				Elements(ctx, c, "n", ledger, k.key, k.typ, "", 2)
			}
			w, err := NewWriter(wc, "n", ledger, caps)
			if err != nil {
				t.Fatal(err)
			}
			w.SetTTL(ctx, "l", time.Hour)
			w.SetTTL(ctx, "nope", time.Hour)
			w.Persist(ctx, "h")     // had a TTL
			w.Persist(ctx, "set")   // had none: EXISTS tells
			w.Persist(ctx, "nope2") // gone: EXISTS tells
			w.Delete(ctx, "z")
			w.Delete(ctx, "nope")
			checkBooked(t, before, r.counts(t), ledger.Get("n"))
			if own := ledger.Get("n"); own.Hits == 0 || own.Misses == 0 {
				t.Fatalf("the test exercised no hits or no misses: %+v", own)
			}
		})
	}
}
