package redisinfo

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestMeasureClientList prints what one CLIENT LIST costs with 5,000
// clients connected (REDTOP_MEASURE=1): the server's time, the reply's
// size, redtop's time to fetch and to parse, and the memory it allocates.
//
//	REDTOP_MEASURE=1 go test ./redisinfo -run TestMeasureClientList -v
func TestMeasureClientList(t *testing.T) {
	if os.Getenv("REDTOP_MEASURE") == "" {
		t.Skip("set REDTOP_MEASURE=1 to measure CLIENT LIST with 5,000 clients")
	}
	const n = 5000
	raiseFDLimit(t, n+1000) // before the server starts: it inherits the limit
	r := newActRig(t, "--maxclients", "10100")
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout(r.srv.Network(), r.srv.Addr(), 2*time.Second)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "CLIENT SETNAME app-%d\r\n", i)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "+OK\r\n" {
			t.Fatalf("client %d: %q %v", i, line, err)
		}
	}
	reader := r.client(t, "")
	warmUp(t, reader)
	ledger := NewLedger()

	const rounds = 20
	var fetch, parse time.Duration
	var allocBytes, allocs uint64
	var replyLen, clients int
	before := r.counts(t)
	for i := 0; i < rounds; i++ {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		start := time.Now()
		text, err := reader.Do(actCtx(), "client", "list").Text()
		if err != nil {
			t.Fatal(err)
		}
		mid := time.Now()
		cs := ParseClientList(text)
		end := time.Now()
		runtime.ReadMemStats(&m1)
		fetch += mid.Sub(start)
		parse += end.Sub(mid)
		allocBytes += m1.TotalAlloc - m0.TotalAlloc
		allocs += m1.Mallocs - m0.Mallocs
		replyLen, clients = len(text), len(cs)
		runtime.KeepAlive(cs)
	}
	after := r.counts(t)
	if clients < n {
		t.Fatalf("%d clients listed, want at least %d", clients, n)
	}
	var whole time.Duration
	for i := 0; i < rounds; i++ {
		start := time.Now()
		cs, err := FetchClients(actCtx(), reader, "n", ledger)
		if err != nil || len(cs) < n {
			t.Fatal(err)
		}
		whole += time.Since(start)
	}
	text, _ := r.admin.Info(actCtx(), "commandstats").Result()
	st := Parse(text).Commands["client|list"]
	per := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(rounds)/1e6) }
	t.Logf("CLIENT LIST with %d clients: reply %d bytes (%.0f a client)", clients, replyLen, float64(replyLen)/float64(clients))
	t.Logf("  server: %.2f ms a call (commandstats, %d calls)", float64(st.Usec)/float64(st.Calls)/1000, st.Calls)
	t.Logf("  redtop: fetch %s, parse %s, per round (%d rounds)", per(fetch), per(parse), rounds)
	t.Logf("  allocated: %.2f MB and %d objects a round (fetch + parse)", float64(allocBytes)/rounds/1e6, allocs/rounds)
	t.Logf("  FetchClients: %s a round", per(whole))
	t.Logf("  network: %d bytes out for %d calls", after.netOut-before.netOut, rounds)
}

// raiseFDLimit lifts the soft open-files limit to at least want (up to the
// hard limit) and restores it after the test.
func raiseFDLimit(t *testing.T, want uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= want {
		return
	}
	if lim.Max < want {
		t.Skipf("open files: hard limit %d, need %d", lim.Max, want)
	}
	old := lim
	lim.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}
