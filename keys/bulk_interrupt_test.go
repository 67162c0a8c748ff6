package keys

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/internal/redisproc"
)

// cutAfterProxy relays TCP to a server and, once the client has sent the
// n-th command containing word, forwards it and closes the client's side
// of every connection through it: the server runs what it got, the client
// never hears back.
type cutAfterProxy struct {
	ln      net.Listener
	word    []byte
	n       int64
	seen    atomic.Int64
	cut     atomic.Bool
	mu      sync.Mutex
	all     []net.Conn
	clients []net.Conn
}

func newCutAfterProxy(t *testing.T, network, addr, word string, n int64) *cutAfterProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutAfterProxy{ln: ln, word: []byte(word), n: n}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.all {
			c.Close()
		}
		p.mu.Unlock()
	})
	go func() {
		for {
			cc, err := ln.Accept()
			if err != nil {
				return
			}
			sc, err := net.Dial(network, addr)
			if err != nil {
				cc.Close()
				continue
			}
			p.mu.Lock()
			p.all = append(p.all, cc, sc)
			p.clients = append(p.clients, cc)
			p.mu.Unlock()
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := sc.Read(buf)
					if n > 0 && !p.cut.Load() {
						cc.Write(buf[:n])
					}
					if err != nil {
						cc.Close()
						return
					}
				}
			}()
			go func() {
				buf := make([]byte, 256<<10)
				for {
					n, err := cc.Read(buf)
					if n > 0 {
						c := int64(bytes.Count(buf[:n], p.word))
						sc.Write(buf[:n])
						if c > 0 && p.seen.Add(c) >= p.n {
							// The link is cut: every connection through it.
							p.cut.Store(true)
							p.mu.Lock()
							for _, c := range p.clients {
								c.Close()
							}
							p.mu.Unlock()
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

func (p *cutAfterProxy) addr() string { return p.ln.Addr().String() }

// keyNames are the names DEBUG POPULATE n prefix makes.
func keyNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + ":" + strconv.Itoa(i)
	}
	return out
}

// checkAgreement holds the report and the journal of a run stopped early
// to what the server has: every key journaled applied or gone is gone,
// every key not attempted (or never reached) still exists, and the keys
// that vanished are the applied ones plus some of the unknown ones.
func checkAgreement(t *testing.T, b *bulkRig, rep *BulkReport, matching []string) {
	t.Helper()
	ctx := context.Background()
	j := readJournal(t, rep.Journal)
	if j.Footer == nil || j.Footer.Report == nil {
		t.Fatal("journal without footer")
	}
	fr := j.Footer.Report
	if fr.Applied != rep.Applied || fr.Unknown != rep.Unknown || fr.NotAttempted != rep.NotAttempted || fr.AlreadyGone != rep.AlreadyGone || fr.Stopped != rep.Stopped {
		t.Fatalf("journal footer %+v, report %+v", fr, rep)
	}
	if j.AppliedCount != rep.Applied || int64(len(j.Unknown)) != rep.Unknown || int64(len(j.NotAttempted)) != rep.NotAttempted {
		t.Fatalf("journal lists %d applied %d unknown %d not attempted; report %+v", j.AppliedCount, len(j.Unknown), len(j.NotAttempted), rep)
	}
	exists := func(keys []string) []bool {
		out := make([]bool, len(keys))
		for lo := 0; lo < len(keys); lo += 1000 {
			hi := min(lo+1000, len(keys))
			pipe := b.admin.Pipeline()
			cmds := make([]*redis.IntCmd, hi-lo)
			for i := lo; i < hi; i++ {
				cmds[i-lo] = pipe.Exists(ctx, keys[i])
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			for i, c := range cmds {
				out[lo+i] = c.Val() == 1
			}
		}
		return out
	}
	touched := map[string]string{}
	for _, k := range j.Applied {
		touched[k] = "applied"
	}
	for _, k := range j.Gone {
		touched[k] = "gone"
	}
	for _, k := range j.Unknown {
		touched[k] = "unknown"
	}
	for _, k := range j.NotAttempted {
		touched[k] = "not attempted"
	}
	ex := exists(matching)
	var vanished, unknownGone int64
	for i, k := range matching {
		state := touched[k]
		switch {
		case (state == "applied" || state == "gone") && ex[i]:
			t.Fatalf("%s is journaled %s but exists", k, state)
		case (state == "" || state == "not attempted") && !ex[i]:
			t.Fatalf("%s is journaled %q but is gone", k, state)
		case state == "unknown" && !ex[i]:
			unknownGone++
		}
		if !ex[i] {
			vanished++
		}
	}
	if vanished != rep.Applied+unknownGone {
		t.Fatalf("%d keys vanished; report: %d applied, and %d of %d unknown are gone", vanished, rep.Applied, unknownGone, rep.Unknown)
	}
	if rep.OK() || rep.Complete || rep.Stopped == "" {
		t.Fatalf("an interrupted run reads as complete: %+v", rep)
	}
	t.Logf("stopped %q: %d applied, %d unknown (%d gone), %d not attempted; %v", rep.Stopped, rep.Applied, rep.Unknown, unknownGone, rep.NotAttempted, rep.Error)
}

// TestBulkInterrupted: a connection cut mid-run, a context cancelled
// mid-run, an abort and a server killed mid-run all leave a report and a
// journal that say what the server did.
func TestBulkInterrupted(t *testing.T) {
	const n = 100_000
	ctx := context.Background()

	t.Run("connection cut", func(t *testing.T) {
		b := newBulkRig(t)
		b.populate(t, n, "key")
		p := newCutAfterProxy(t, "unix", b.srv.Addr(), "UNLINK", 40)
		w := redis.NewClient(conn.Target{Network: "tcp", Addr: p.addr(), Timeout: 2 * time.Second}.WriterOptions())
		defer w.Close()
		rep, err := RunBulk(ctx, b.reader, w, b.opts(OpDelete, "key:*"), nil)
		if err == nil || rep == nil || rep.Stopped != "connection lost" || rep.Unknown == 0 || rep.Unknown > writeLanes*DefaultBatch {
			t.Fatalf("err %v report %+v", err, rep)
		}
		checkAgreement(t, b, rep, keyNames("key", n))
	})

	t.Run("connection cut, with backup", func(t *testing.T) {
		b := newBulkRig(t)
		b.populate(t, 20_000, "key")
		p := newCutAfterProxy(t, "unix", b.srv.Addr(), "EXEC", 12)
		w := redis.NewClient(conn.Target{Network: "tcp", Addr: p.addr(), Timeout: 2 * time.Second}.WriterOptions())
		defer w.Close()
		opt := b.opts(OpDelete, "key:*")
		opt.Backup = true
		rep, err := RunBulk(ctx, b.reader, w, opt, nil)
		if err == nil || rep == nil || rep.Stopped != "connection lost" || rep.Unknown == 0 || rep.Unknown > writeLanes*DefaultBatch {
			t.Fatalf("err %v report %+v", err, rep)
		}
		checkAgreement(t, b, rep, keyNames("key", 20_000))
		// What the backup holds is exactly what the journal says was
		// deleted; the unknown batch's keys, if deleted, are not in it.
		saved, order := readBackup(t, rep.Backup)
		j := readJournal(t, rep.Journal)
		if len(order) != len(saved) || int64(len(saved)) != rep.Applied || rep.BackupKeys != rep.Applied {
			t.Fatalf("backup: %d entries, %d keys; report %+v", len(order), len(saved), rep)
		}
		for _, k := range j.Applied {
			if _, ok := saved[k]; !ok {
				t.Fatalf("%s journaled deleted, not in the backup", k)
			}
		}
	})

	t.Run("connection cut, expire", func(t *testing.T) {
		b := newBulkRig(t)
		b.populate(t, 20_000, "key")
		p := newCutAfterProxy(t, "unix", b.srv.Addr(), "PEXPIRE", 5000)
		w := redis.NewClient(conn.Target{Network: "tcp", Addr: p.addr(), Timeout: 2 * time.Second}.WriterOptions())
		defer w.Close()
		opt := b.opts(OpExpire, "key:*")
		opt.TTL = time.Hour
		rep, err := RunBulk(ctx, b.reader, w, opt, nil)
		if err == nil || rep == nil || rep.Stopped != "connection lost" || rep.Unknown == 0 || rep.Unknown > writeLanes*DefaultBatch {
			t.Fatalf("err %v report %+v", err, rep)
		}
		j := readJournal(t, rep.Journal)
		for _, k := range j.Applied {
			if b.admin.PTTL(ctx, k).Val() <= 0 {
				t.Fatalf("%s journaled applied has no TTL", k)
			}
		}
		for _, k := range j.NotAttempted {
			if b.admin.PTTL(ctx, k).Val() != -1 {
				t.Fatalf("%s journaled not attempted has a TTL", k)
			}
		}
		var withTTL int64
		for _, k := range keyNames("key", 20_000) {
			if b.admin.PTTL(ctx, k).Val() > 0 {
				withTTL++
			}
		}
		if withTTL < rep.Applied || withTTL > rep.Applied+rep.Unknown {
			t.Fatalf("%d keys have a TTL; report %+v", withTTL, rep)
		}
	})

	t.Run("context cancelled", func(t *testing.T) {
		b := newBulkRig(t)
		b.populate(t, n, "key")
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		opt := b.opts(OpDelete, "key:*")
		opt.Batch = 1000
		opt.Rate = 400_000 // progress comes every 50 ms: a run must last longer than a few of them
		rep, err := RunBulk(cctx, b.reader, b.writer, opt, func(p BulkProgress) {
			if p.Done >= 30_000 {
				cancel()
			}
		})
		if !errors.Is(err, context.Canceled) || rep == nil || rep.Stopped != "cancelled" || rep.Unknown != 0 || rep.Applied%1000 != 0 {
			t.Fatalf("err %v report %+v", err, rep)
		}
		checkAgreement(t, b, rep, keyNames("key", n))
	})

	t.Run("aborted", func(t *testing.T) {
		b := newBulkRig(t)
		b.populate(t, n, "key")
		slow := delayProxy(t, b.srv.Addr(), 5*time.Millisecond)
		w := redis.NewClient(conn.Target{Network: "tcp", Addr: slow, Timeout: 2 * time.Second}.WriterOptions())
		defer w.Close()
		abort := make(chan struct{})
		var once sync.Once
		opt := b.opts(OpDelete, "key:*")
		opt.Abort = abort
		start := time.Now()
		var at time.Time
		rep, err := RunBulk(ctx, b.reader, w, opt, func(p BulkProgress) {
			if p.Done >= 5000 {
				once.Do(func() {
					at = time.Now()
					// From another goroutine, as a second ctrl+c would,
					// while a batch is in flight.
					go func() { time.Sleep(7 * time.Millisecond); close(abort) }()
				})
			}
		})
		if !errors.Is(err, ErrAborted) || rep == nil || rep.Stopped != "aborted" {
			t.Fatalf("err %v report %+v", err, rep)
		}
		if el := time.Since(at); el > time.Second {
			t.Fatalf("abort took %v (run %v)", el, time.Since(start))
		}
		time.Sleep(50 * time.Millisecond) // let the proxy deliver what it had
		checkAgreement(t, b, rep, keyNames("key", n))
	})

	t.Run("server killed", func(t *testing.T) {
		srv := redisproc.ForTest(t, redisproc.Options{Unix: true, Args: []string{
			"--enable-debug-command", "yes", "--appendonly", "yes", "--appendfsync", "always"}})
		r := &rig{srv: srv}
		r.admin = r.client(t, "", "")
		b := &bulkRig{rig: r, reader: r.client(t, "", ""), writer: r.writer(t, "", ""), dir: t.TempDir()}
		b.populate(t, n, "key")
		// DEBUG POPULATE is not written to the AOF: rewrite it.
		if err := b.admin.BgRewriteAOF(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; {
			info := b.admin.Info(ctx, "persistence").Val()
			if strings.Contains(info, "aof_rewrite_in_progress:0") && strings.Contains(info, "aof_rewrite_scheduled:0") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("AOF rewrite did not finish")
			}
			time.Sleep(20 * time.Millisecond)
		}
		var once sync.Once
		killed := make(chan struct{})
		rep, err := RunBulk(ctx, b.reader, b.writer, b.opts(OpDelete, "key:*"), func(p BulkProgress) {
			if p.Done >= 20_000 {
				// From another goroutine, so batches are in flight when it dies.
				once.Do(func() { go func() { srv.Kill(); close(killed) }() })
			}
		})
		<-killed
		if err == nil || rep == nil || rep.OK() {
			t.Fatalf("err %v report %+v", err, rep)
		}
		if err := srv.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		b.admin.Close()
		b.admin = r.client(t, "", "")
		checkAgreement(t, b, rep, keyNames("key", n))
	})
}
