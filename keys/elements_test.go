package keys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/internal/redisproc"
	"redtop/redisinfo"
)

func TestReadString(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, redisproc.Options{Unix: true})
	seedKeys(t, r)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	r.admin.Set(ctx, "big", big, 0)
	c := r.client(t, "", "")
	for _, tt := range []struct {
		key       string
		max       int64
		want      []byte
		total     int64
		truncated bool
		err       error
	}{
		{key: "s", want: []byte("hello"), total: 5},
		{key: "s", max: 3, want: []byte("hel"), total: 5, truncated: true},
		{key: "s", max: 5, want: []byte("hello"), total: 5},
		{key: "raw", max: 100, want: bytes.Repeat([]byte("x"), 100), total: 1000, truncated: true},
		{key: "empty", want: []byte{}, total: 0},
		{key: "n", want: []byte("12345"), total: 5},
		{key: "big", want: big[:StringMax], total: 1 << 20, truncated: true},
		{key: "nope", err: ErrNoKey},
		{key: "exp", err: ErrNoKey},
		{key: "h", err: ErrTypeChanged},
	} {
		t.Run(fmt.Sprintf("%s/%d", tt.key, tt.max), func(t *testing.T) {
			val, total, truncated, err := ReadString(ctx, c, "n", nil, tt.key, tt.max)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if !bytes.Equal(val, tt.want) || total != tt.total || truncated != tt.truncated {
				t.Fatalf("got %q (%d bytes) total %d truncated %v", abbrev(val), len(val), total, truncated)
			}
		})
	}
}

func abbrev(b []byte) []byte {
	if len(b) > 20 {
		return b[:20]
	}
	return b
}

// fillScript builds a big key inside the server, 1000 arguments a command.
const fillScript = `
local key, from, to, kind = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local args = {}
local function flush()
  if #args == 0 then return end
  if kind == 'hash' then redis.call('HSET', key, unpack(args))
  elseif kind == 'list' then redis.call('RPUSH', key, unpack(args))
  elseif kind == 'set' then redis.call('SADD', key, unpack(args))
  else redis.call('ZADD', key, unpack(args)) end
  args = {}
end
for i = from, to do
  if kind == 'hash' then args[#args+1] = 'f'..i; args[#args+1] = 'v'..i
  elseif kind == 'zset' then args[#args+1] = i; args[#args+1] = 'm'..i
  else args[#args+1] = 'e'..i end
  if #args >= 1000 then flush() end
end
flush()
return 1`

// fill makes key a hash, list, set or zset of n elements f<i>/v<i>, e<i>
// or m<i> (score i), i from 1, in slices of 100k so no single script runs
// long enough to make the server answer BUSY.
func fill(t testing.TB, c *redis.Client, key, kind string, n int) {
	t.Helper()
	ctx := context.Background()
	for from := 1; from <= n; from += 100_000 {
		to := min(from+100_000-1, n)
		if err := c.Eval(ctx, fillScript, []string{key}, from, to, kind).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestElementsPagesThroughEveryType(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, redisproc.Options{Unix: true})
	const n = 1000
	fill(t, r.admin, "h", "hash", n)
	fill(t, r.admin, "small", "hash", 10) // listpack: HSCAN gives it whole
	fill(t, r.admin, "l", "list", n)
	fill(t, r.admin, "set", "set", n)
	fill(t, r.admin, "z", "zset", n)
	for i := 1; i <= n; i++ {
		r.admin.XAdd(ctx, &redis.XAddArgs{Stream: "x", ID: fmt.Sprintf("%d-%d", i/10+1, i%10), Values: []any{"a", "a" + strconv.Itoa(i), "b", "b" + strconv.Itoa(i)}})
	}
	c := r.client(t, "", "")

	for _, tt := range []struct {
		key, typ string
		count    int
		total    int
	}{
		{"h", "hash", 150, n}, {"small", "hash", 0, 10}, {"l", "list", 150, n}, {"set", "set", 150, n},
		{"z", "zset", 150, n}, {"x", "stream", 150, n}, {"l", "list", 0, n}, {"z", "zset", 1000, n},
	} {
		t.Run(fmt.Sprintf("%s/%d", tt.key, tt.count), func(t *testing.T) {
			seen := map[string]int{}
			cursor, pages := "", 0
			var order []string
			for {
				p, err := Elements(ctx, c, "n", nil, tt.key, tt.typ, cursor, tt.count)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if p.Total != int64(tt.total) {
					t.Fatalf("Total %d", p.Total)
				}
				limit := tt.count
				if limit <= 0 {
					limit = DefaultPage
				}
				limit = min(limit, MaxPage)
				if tt.typ == "stream" {
					limit *= 2 // one element per field, two fields an entry
				}
				if (tt.typ == "list" || tt.typ == "zset" || tt.typ == "stream") && len(p.Items) > limit {
					t.Fatalf("page of %d items, asked for %d", len(p.Items), tt.count)
				}
				for _, e := range p.Items {
					var id string
					switch tt.typ {
					case "hash":
						if "v"+strings.TrimPrefix(string(e.Field), "f") != string(e.Value) {
							t.Fatalf("field %q value %q", e.Field, e.Value)
						}
						id = string(e.Field)
					case "list":
						if string(e.Value) != "e"+strconv.FormatInt(e.Index+1, 10) {
							t.Fatalf("index %d value %q", e.Index, e.Value)
						}
						id = string(e.Value)
					case "zset":
						if string(e.Value) != "m"+strconv.FormatInt(int64(e.Score), 10) || e.Index+1 != int64(e.Score) {
							t.Fatalf("rank %d member %q score %v", e.Index, e.Value, e.Score)
						}
						id = string(e.Value)
					case "set":
						id = string(e.Value)
					case "stream":
						id = e.ID + "/" + string(e.Field)
					}
					seen[id]++
					order = append(order, id)
				}
				if p.Next == "" {
					break
				}
				cursor = p.Next
				if pages > 100 {
					t.Fatal("no end")
				}
			}
			want := tt.total
			if tt.typ == "stream" {
				want *= 2
			}
			if len(seen) != want {
				t.Fatalf("%d distinct elements over %d pages, want %d", len(seen), pages, want)
			}
			for id, k := range seen {
				if k != 1 {
					t.Fatalf("%s seen %d times", id, k)
				}
			}
			if tt.key == "x" && (order[0] != "1-1/a" || order[1] != "1-1/b" || order[len(order)-1] != "101-0/b") {
				t.Fatalf("stream order: %v … %v", order[:4], order[len(order)-2:])
			}
		})
	}
}

func TestElementsErrors(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, redisproc.Options{Unix: true})
	seedKeys(t, r)
	c := r.client(t, "", "")
	for _, tt := range []struct {
		key, typ, cursor string
		err              error
		msg              string
	}{
		{key: "nope", typ: "hash", err: ErrNoKey},
		{key: "exp", typ: "list", err: ErrNoKey},
		{key: "s", typ: "hash", err: ErrTypeChanged, msg: "it is now a string, not a hash"},
		{key: "h", typ: "zset", err: ErrTypeChanged},
		{key: "h", typ: "hash", cursor: "x", msg: `bad hash cursor "x"`},
		{key: "l", typ: "list", cursor: "-1", msg: `bad list offset "-1"`},
		{key: "x", typ: "stream", cursor: "abc", msg: "bad stream cursor"},
		{key: "s", typ: "string", msg: "use ReadString"},
		{key: "j", typ: "ReJSON-RL", msg: "cannot page through a ReJSON-RL"},
	} {
		t.Run(tt.key+"/"+tt.typ, func(t *testing.T) {
			_, err := Elements(ctx, c, "n", nil, tt.key, tt.typ, tt.cursor, 0)
			if err == nil || tt.err != nil && !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err %v, want %v %q", err, tt.err, tt.msg)
			}
		})
	}
	// An empty stream exists: an empty last page, not ErrNoKey.
	p, err := Elements(ctx, c, "n", nil, "xe", "stream", "", 0)
	if err != nil || len(p.Items) != 0 || p.Next != "" || p.Total != 0 {
		t.Fatalf("empty stream: %+v %v", p, err)
	}
}

func TestNextStreamID(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{"1-0", "1-1", ""},
		{"1700000000000-41", "1700000000000-42", ""},
		{"5-18446744073709551615", "6-0", ""},
		{"18446744073709551615-18446744073709551615", "", "last possible"},
		{"1", "", "bad stream cursor"},
		{"a-b", "", "bad stream cursor"},
	} {
		got, err := nextStreamID(tt.in)
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("nextStreamID(%q) = %q, %v", tt.in, got, err)
		}
	}
}

// TestBigKeysPageCheaply opens a 5M-field hash and a 5M-element list and
// proves from the server's own commandstats that a page costs a few small
// commands: no call touches millions of elements, little is sent, and the
// client's memory does not grow with the key. Building the keys takes a
// few seconds (in Lua, inside the server); -short skips it.
func TestBigKeysPageCheaply(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two 5M-element keys")
	}
	ctx := context.Background()
	r := newRig(t, redisproc.Options{Unix: true})
	const n = 5_000_000
	start := time.Now()
	fill(t, r.admin, "bighash", "hash", n)
	fill(t, r.admin, "biglist", "list", n)
	t.Logf("built a %d-field hash and a %d-element list in %v", n, n, time.Since(start).Round(time.Millisecond))
	c := r.client(t, "", "")
	warm(t, c)
	r.do(t, "config", "resetstat")

	ledger := redisinfo.NewLedger()
	before := r.counts(t)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)

	// The first page of each, then nine more of the hash, and the list's
	// middle and end (LRANGE walks the quicklist from the nearer end).
	var items int
	cursor := ""
	for i := 0; i < 10; i++ {
		p, err := Elements(ctx, c, "n", ledger, "bighash", "hash", cursor, 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != n || p.Next == "" {
			t.Fatalf("hash page %d: total %d next %q", i, p.Total, p.Next)
		}
		items += len(p.Items)
		cursor = p.Next
	}
	for _, off := range []string{"", strconv.Itoa(n / 2), strconv.Itoa(n - 100)} {
		p, err := Elements(ctx, c, "n", ledger, "biglist", "list", off, 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != n || len(p.Items) == 0 {
			t.Fatalf("list page at %q: total %d, %d items", off, p.Total, len(p.Items))
		}
		items += len(p.Items)
	}
	runtime.ReadMemStats(&ms1)
	after := r.counts(t)
	checkBooked(t, before, after, ledger.Get("n"))

	allocated := ms1.TotalAlloc - ms0.TotalAlloc
	sent := after.netOut - before.netOut
	t.Logf("13 pages, %d elements: %d commands, max %.0f µs a call (%s), %d bytes from the server, %d bytes allocated by the client",
		items, after.total-before.total, after.maxUsecPerCall, after.maxUsecCmd, sent, allocated)
	for name, calls := range after.calls {
		if d := calls - before.calls[name]; d > 13 {
			t.Errorf("%s called %d times for 13 pages", name, d)
		}
	}
	// HGETALL or LRANGE 0 -1 of 5M elements takes seconds and ~100 MB.
	if after.maxUsecPerCall > 20_000 {
		t.Errorf("%s took %.0f µs a call: it walked far more than a page", after.maxUsecCmd, after.maxUsecPerCall)
	}
	if sent > 256<<10 {
		t.Errorf("the server sent %d bytes for 13 pages", sent)
	}
	if allocated > 16<<20 {
		t.Errorf("the client allocated %d bytes for 13 pages", allocated)
	}
}
