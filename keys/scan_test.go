package keys

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/internal/redisproc"
	"redtop/redisinfo"
)

// testServer starts a private redis-server with DEBUG allowed (for
// DEBUG POPULATE) and returns a client built like redtop's reader.
func testServer(t testing.TB) (*redis.Client, *redisproc.Server) {
	t.Helper()
	srv := redisproc.ForTest(t, redisproc.Options{Unix: true, Args: []string{"--enable-debug-command", "yes"}})
	target := conn.Target{Network: srv.Network(), Addr: srv.Addr(), Timeout: 2 * time.Second}
	c := redis.NewClient(target.Options())
	t.Cleanup(func() { c.Close() })
	return c, srv
}

func populate(t testing.TB, c *redis.Client, n int, prefix string) {
	t.Helper()
	// One long command: give it more than the client's 2 s on a busy host.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Do(ctx, "DEBUG", "POPULATE", n, prefix).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestScanDeliversEveryKeyAndBooksItsCalls(t *testing.T) {
	c, srv := testServer(t)
	ctx := context.Background()
	populate(t, c, 5000, "key")
	populate(t, c, 3000, "other")
	c.HSet(ctx, "h:1", "f", "v")
	c.HSet(ctx, "h:2", "f", "v")

	ledger := redisinfo.NewLedger()
	var progress []Progress
	seen := map[string]int{}
	opt := ScanOptions{Node: srv.Addr(), Ledger: ledger, Progress: func(p Progress) { progress = append(progress, p) }}
	st, err := Scan(ctx, c, opt, func(batch []string) error {
		for _, k := range batch {
			seen[k]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Complete || st.Total != 8002 || len(seen) != 8002 || st.Scanned < 8002 {
		t.Fatalf("stats %+v, %d distinct keys", st, len(seen))
	}
	if len(progress) != int(st.Calls) || progress[len(progress)-1].Fraction() != 1 {
		t.Fatalf("%d progress calls for %d SCANs, last %+v", len(progress), st.Calls, progress[len(progress)-1])
	}
	for i := 1; i < len(progress)-1; i++ {
		if progress[i].Fraction() < progress[i-1].Fraction() {
			t.Fatalf("fraction went back: %v then %v", progress[i-1].Fraction(), progress[i].Fraction())
		}
	}
	// The cursor's fraction tracks the keys seen, without MATCH to cheat.
	mid := progress[len(progress)/2]
	if share := float64(mid.Scanned) / float64(mid.Total); share-mid.Fraction() > 0.1 || mid.Fraction()-share > 0.1 {
		t.Errorf("halfway: %.3f of keys seen, cursor says %.3f", share, mid.Fraction())
	}
	own := ledger.Get(srv.Addr())
	if own.Calls["scan"] != st.Calls || own.Calls["dbsize"] != 1 || own.Hits+own.Misses != 0 {
		t.Fatalf("ledger %+v, %d SCAN calls", own, st.Calls)
	}
	// COUNT 1000: a handful of round trips, not redis-cli's 800.
	if st.Calls > 20 {
		t.Errorf("%d SCAN calls for 8002 keys", st.Calls)
	}
}

func TestScanMatchAndType(t *testing.T) {
	c, _ := testServer(t)
	ctx := context.Background()
	populate(t, c, 2000, "key")
	for i := range 300 {
		c.HSet(ctx, "key:h"+strconv.Itoa(i), "f", "v")
	}
	count := func(opt ScanOptions) int {
		n := 0
		if _, err := Scan(ctx, c, opt, func(b []string) error { n += len(b); return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(ScanOptions{Match: "key:h*"}); n != 300 {
		t.Errorf("MATCH key:h*: %d keys", n)
	}
	if n := count(ScanOptions{Match: "key:*", Type: "HASH"}); n != 300 {
		t.Errorf("TYPE hash: %d keys", n)
	}
	if n := count(ScanOptions{Type: "string", Count: 50}); n != 2000 {
		t.Errorf("TYPE string COUNT 50: %d keys", n)
	}
	if _, err := Scan(ctx, c, ScanOptions{Type: "hashes"}, nil); err == nil || !strings.Contains(err.Error(), `unknown type "hashes"`) {
		t.Errorf("bad type: %v", err)
	}
}

func TestScanStopsEarly(t *testing.T) {
	c, _ := testServer(t)
	ctx := context.Background()
	populate(t, c, 5000, "key")
	batches := 0
	st, err := Scan(ctx, c, ScanOptions{Count: 100}, func([]string) error {
		batches++
		if batches == 3 {
			return ErrStop
		}
		return nil
	})
	if err != nil || batches != 3 || st.Complete {
		t.Fatalf("ErrStop: err %v, %d batches, %+v", err, batches, st)
	}
	boom := errors.New("boom")
	if _, err := Scan(ctx, c, ScanOptions{}, func([]string) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("callback error: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	_, err = Scan(cctx, c, ScanOptions{Count: 10}, func([]string) error { cancel(); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled scan: %v", err)
	}
}

func TestScanServerGoneMidScan(t *testing.T) {
	c, srv := testServer(t)
	ctx := context.Background()
	populate(t, c, 5000, "key")
	batches := 0
	start := time.Now()
	_, err := Scan(ctx, c, ScanOptions{Count: 100, Timeout: time.Second}, func([]string) error {
		if batches++; batches == 2 {
			srv.Kill()
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "SCAN at cursor") {
		t.Fatalf("scan on a dead server: %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("took %v to notice", d)
	}
	target := conn.Target{Network: srv.Network(), Addr: srv.Addr(), Timeout: time.Second}
	msg := conn.Explain(err, target).Error()
	if !strings.Contains(msg, "no such socket") && !strings.Contains(msg, "closed the connection") && !strings.Contains(msg, "refused") {
		t.Errorf("explained as %q", msg)
	}
}

// TestScanBooksBytesAsTheServerCounts compares the bytes booked for SCAN
// with the server's own net counters, so the overview's network rates can
// take them out exactly.
func TestScanBooksBytesAsTheServerCounts(t *testing.T) {
	c, srv := testServer(t)
	ctx := context.Background()
	populate(t, c, 3000, "key")
	c.Set(ctx, "bin\x00\xff\n", "v", 0)
	c.Ping(ctx) // the connection exists before the first INFO

	infoStats := func() (in, out int64, size int) {
		s, err := c.Info(ctx, "stats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(s, "\r\n") {
			if v, ok := strings.CutPrefix(line, "total_net_input_bytes:"); ok {
				in, _ = strconv.ParseInt(v, 10, 64)
			}
			if v, ok := strings.CutPrefix(line, "total_net_output_bytes:"); ok {
				out, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		return in, out, bulkLen(len(s))
	}
	in0, out0, info0 := infoStats()
	ledger := redisinfo.NewLedger()
	if _, err := Scan(ctx, c, ScanOptions{Match: "k*", Count: 300, Node: srv.Addr(), Ledger: ledger}, func([]string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	in1, out1, _ := infoStats()
	own := ledger.Get(srv.Addr())
	wantIn := in1 - in0 - int64(respArrayLen("info", "stats"))
	wantOut := out1 - out0 - int64(info0)
	if own.NetIn != wantIn || own.NetOut != wantOut {
		t.Fatalf("booked in %d out %d, server counted %d and %d", own.NetIn, own.NetOut, wantIn, wantOut)
	}
}

func TestValidateType(t *testing.T) {
	for in, want := range map[string]string{"hash": "hash", "ZSET": "zset", "Stream": "stream", "ReJSON-RL": "ReJSON-RL"} {
		if got, err := ValidateType(in); err != nil || got != want {
			t.Errorf("ValidateType(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "hashes", "rejson-rl", "str"} {
		if _, err := ValidateType(bad); err == nil {
			t.Errorf("ValidateType(%q) accepted", bad)
		}
	}
}

func TestProgressFraction(t *testing.T) {
	// A table of 8 buckets walked in reverse-binary order: 0 4 2 6 1 5 3 7.
	order := []uint64{4, 2, 6, 1, 5, 3, 7}
	for i, cur := range order {
		got := Progress{Cursor: cur, Calls: 1}.Fraction()
		if want := float64(i+1) / 8; got != want {
			t.Errorf("cursor %d: %v, want %v", cur, got, want)
		}
	}
	if f := (Progress{}).Fraction(); f != 0 {
		t.Errorf("not started: %v", f)
	}
}

// TestMeasureScanOverlap: what sending the next SCAN while the caller
// handles a batch buys, for a plain listing (escape and write to
// /dev/null) and for Analyze's callback (one MEMORY USAGE+PTTL round trip
// per batch). Prints, never asserts:
//
//	REDTOP_MEASURE=1 go test -run MeasureScanOverlap -v ./keys
func TestMeasureScanOverlap(t *testing.T) {
	if os.Getenv("REDTOP_MEASURE") == "" {
		t.Skip("set REDTOP_MEASURE=1 to measure")
	}
	c, srv := testServer(t)
	ctx := context.Background()
	populate(t, c, 400000, "key")
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	list := func(batch []string) error {
		w := bufio.NewWriter(devnull)
		for _, k := range batch {
			w.WriteString(Escape(k))
			w.WriteByte('\n')
		}
		return w.Flush()
	}
	// The same server behind a proxy that delays each chunk each way, like
	// a server across a network (sleeps are coarse: the round trip is
	// measured and printed).
	slow := redis.NewClient(&redis.Options{Addr: delayProxy(t, srv.Addr(), 250*time.Microsecond), DisableIdentity: true, ReadTimeout: 5 * time.Second})
	defer slow.Close()
	slow.Ping(ctx)
	start := time.Now()
	for range 100 {
		slow.Ping(ctx)
	}
	rtt := fmt.Sprintf("%.1fms RTT", float64(time.Since(start).Microseconds())/100/1000)
	for _, cl := range []struct {
		name string
		c    *redis.Client
	}{{"unix socket", c}, {rtt, slow}} {
		a := &analysis{c: cl.c, opt: AnalyzeOptions{Timeout: 5 * time.Second}, tree: NewTree(TreeOptions{}), wantMem: true, wantTTL: true}
		if a.raw, err = dialRaw(ctx, cl.c, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		measure := func(batch []string) error { return a.measure(ctx, batch) }
		for _, tc := range []struct {
			name string
			fn   func([]string) error
		}{{"list", list}, {"measure", measure}} {
			for _, seq := range []bool{true, false, true, false} {
				start := time.Now()
				st, err := Scan(ctx, cl.c, ScanOptions{sequential: seq}, tc.fn)
				if err != nil {
					t.Fatal(err)
				}
				d := time.Since(start)
				fmt.Printf("MEASURE scan %-11s %-7s overlap=%-5v %d keys in %v: %.0f keys/s\n", cl.name, tc.name, !seq, st.Scanned, d.Round(time.Millisecond), float64(st.Scanned)/d.Seconds())
			}
		}
	}
}

// delayProxy forwards TCP connections to a unix socket, sleeping before
// passing on each chunk read.
func delayProxy(t *testing.T, socket string, delay time.Duration) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				time.Sleep(delay)
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("unix", socket)
			if err != nil {
				in.Close()
				continue
			}
			go pipe(out, in)
			go pipe(in, out)
		}
	}()
	return l.Addr().String()
}
