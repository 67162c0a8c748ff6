package keys

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/internal/redisproc"
	"redtop/redisinfo"
)

func TestWriter(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, redisproc.Options{Unix: true})
	seedKeys(t, r)
	ledger := redisinfo.NewLedger()
	caps, err := Probe(ctx, r.client(t, "", ""), "n", ledger)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(r.writer(t, "", ""), "n", ledger, caps)
	if err != nil {
		t.Fatal(err)
	}
	pttl := func(k string) time.Duration { return r.admin.PTTL(ctx, k).Val() }
	exists := func(k string) bool { return r.admin.Exists(ctx, k).Val() == 1 }

	for _, tt := range []struct {
		name    string
		do      func() (Result, error)
		want    Outcome
		errHas  string
		line    string
		check   func() bool
		checked string
	}{
		{name: "set TTL", do: func() (Result, error) { return w.SetTTL(ctx, "l", 2*time.Hour) }, want: Applied,
			line: "l: TTL set to 2h", check: func() bool { d := pttl("l"); return d > 119*time.Minute && d <= 2*time.Hour }, checked: "PTTL about 2h"},
		{name: "set TTL rounds up to a millisecond", do: func() (Result, error) { return w.SetTTL(ctx, "raw", time.Microsecond) }, want: Applied,
			check: func() bool { time.Sleep(5 * time.Millisecond); return !exists("raw") }, checked: "raw expired"},
		{name: "set TTL on a vanished key", do: func() (Result, error) { return w.SetTTL(ctx, "nope", time.Hour) }, want: Vanished,
			line: "nope: key no longer exists"},
		{name: "set TTL zero", do: func() (Result, error) { return w.SetTTL(ctx, "l", 0) }, want: NotApplied, errHas: "more than zero"},
		{name: "set TTL negative", do: func() (Result, error) { return w.SetTTL(ctx, "l", -time.Second) }, want: NotApplied, errHas: "more than zero"},
		{name: "persist", do: func() (Result, error) { return w.Persist(ctx, "s") }, want: Applied,
			line: "s: expiry removed", check: func() bool { return pttl("s") == -1 }, checked: "no TTL"},
		{name: "persist without a TTL", do: func() (Result, error) { return w.Persist(ctx, "h") }, want: Unchanged,
			line: "h: had no expiry", check: func() bool { return exists("h") }, checked: "h still there"},
		{name: "persist a vanished key", do: func() (Result, error) { return w.Persist(ctx, "nope") }, want: Vanished},
		{name: "delete", do: func() (Result, error) { return w.Delete(ctx, "z") }, want: Applied,
			line: "z: deleted", check: func() bool { return !exists("z") }, checked: "z gone"},
		{name: "delete a vanished key", do: func() (Result, error) { return w.Delete(ctx, "exp") }, want: Vanished},
		{name: "cancelled before sending", do: func() (Result, error) {
			c, cancel := context.WithCancel(ctx)
			cancel()
			return w.Delete(c, "h")
		}, want: NotApplied, errHas: "delete not sent: context canceled", check: func() bool { return exists("h") }, checked: "h still there"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.do()
			if res.Outcome != tt.want {
				t.Fatalf("outcome %v (%v), want %v", res.Outcome, err, tt.want)
			}
			if (err != nil) != (tt.errHas != "") || err != nil && !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("err %v, want %q", err, tt.errHas)
			}
			if tt.line != "" && res.String() != tt.line {
				t.Errorf("String() = %q, want %q", res.String(), tt.line)
			}
			if tt.check != nil && !tt.check() {
				t.Errorf("not so on the server: %s", tt.checked)
			}
		})
	}
}

// TestWriterRefusals: what Caps rule out is refused before anything is
// sent; what the server refuses is mapped to a clear line. Neither is
// ever an unknown outcome.
func TestWriterRefusals(t *testing.T) {
	ctx := context.Background()
	master := newRig(t, redisproc.Options{})
	master.addUser(t, "ro", "~*", "+@read", "-@write")
	master.addUser(t, "ttlonly", "~*", "+@read", "+info", "+acl|dryrun", "+pexpire", "+persist")
	replica := newRig(t, redisproc.Options{Unix: true, Args: []string{"--replicaof", "127.0.0.1", strconv.Itoa(master.srv.Port)}})
	master.admin.Set(ctx, "k", "v", 0)

	probed := func(r *rig, user string) Caps {
		pass := ""
		if user != "" {
			pass = "pw"
		}
		caps, err := Probe(ctx, r.client(t, user, pass), "n", nil)
		if err != nil {
			t.Fatal(err)
		}
		return caps
	}
	for _, tt := range []struct {
		name   string
		rig    *rig
		user   string
		caps   Caps
		do     func(w *Writer) (Result, error)
		is     error
		errHas string
		sent   bool
	}{
		{name: "replica, probed", rig: replica, caps: probed(replica, ""),
			do: func(w *Writer) (Result, error) { return w.Delete(ctx, "k") },
			is: ErrReadOnly, errHas: "read-only: delete not sent: connected to a replica"},
		{name: "replica, not probed: READONLY", rig: replica,
			do: func(w *Writer) (Result, error) { return w.SetTTL(ctx, "k", time.Hour) },
			is: ErrReadOnly, errHas: "the server is a read-only replica; connect to its master", sent: true},
		{name: "user whose ACL DRYRUN shows no unlink", rig: master, user: "ttlonly", caps: probed(master, "ttlonly"),
			do: func(w *Writer) (Result, error) { return w.Delete(ctx, "k") },
			is: ErrDenied, errHas: "permission denied: delete not sent: user ttlonly lacks +unlink"},
		{name: "user who may not run ACL DRYRUN: refused up front", rig: master, user: "ro", caps: probed(master, "ro"),
			do: func(w *Writer) (Result, error) { return w.Delete(ctx, "k") },
			is: ErrReadOnly, errHas: "read-only: delete not sent: user ro lacks +unlink, +pexpire, +persist"},
		{name: "not probed: NOPERM", rig: master, user: "ro",
			do: func(w *Writer) (Result, error) { return w.Delete(ctx, "k") },
			is: ErrDenied, errHas: "user ro may not delete k (NOPERM this user has no permissions to run the 'unlink' command)", sent: true},
		{name: "NOPERM on PEXPIRE", rig: master, user: "ro",
			do: func(w *Writer) (Result, error) { return w.SetTTL(ctx, "k", time.Hour) },
			is: ErrDenied, errHas: "user ro may not set TTL k", sent: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pass := ""
			if tt.user != "" {
				pass = "pw"
			}
			before := tt.rig.counts(t)
			w, err := NewWriter(tt.rig.writer(t, tt.user, pass), "n", nil, tt.caps)
			if err != nil {
				t.Fatal(err)
			}
			res, err := tt.do(w)
			if res.Outcome != NotApplied || !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("outcome %v err %v, want %v %q", res.Outcome, err, tt.is, tt.errHas)
			}
			after := tt.rig.counts(t)
			sent := false
			for _, name := range []string{"unlink", "pexpire", "hello"} {
				sent = sent || after.calls[name] != before.calls[name]
			}
			if sent != tt.sent {
				t.Fatalf("sent %v, want %v", sent, tt.sent)
			}
		})
	}
	if v := master.admin.Get(ctx, "k").Val(); v != "v" {
		t.Fatalf("k changed: %q", v)
	}
}

func TestNewWriterRefusesRetries(t *testing.T) {
	r := newRig(t, redisproc.Options{Unix: true})
	if _, err := NewWriter(r.client(t, "", ""), "n", nil, Caps{}); err == nil || !strings.Contains(err.Error(), "WriterOptions") {
		t.Fatalf("a retrying client was accepted: %v", err)
	}
}

// cutProxy relays TCP to a server until it sees the trigger command go by:
// it forwards that command, then relays no more replies and, in cut mode,
// closes the client's side, so the client never learns what the server did.
type cutProxy struct {
	ln      net.Listener
	network string
	addr    string
	trigger []byte
	cut     bool // close the client side; otherwise hold the reply (timeout)

	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T, network, addr, trigger string, cut bool) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, network: network, addr: addr, trigger: []byte(strings.ToLower(trigger)), cut: cut}
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *cutProxy) accept() {
	for {
		cc, err := p.ln.Accept()
		if err != nil {
			return
		}
		sc, err := net.Dial(p.network, p.addr)
		if err != nil {
			cc.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, cc, sc)
		p.mu.Unlock()
		var hold atomic.Bool
		go func() { // server → client, until the trigger went by
			buf := make([]byte, 32<<10)
			for {
				n, err := sc.Read(buf)
				if err != nil {
					cc.Close()
					return
				}
				if !hold.Load() {
					cc.Write(buf[:n])
				}
			}
		}()
		go func() { // client → server
			buf := make([]byte, 32<<10)
			for {
				n, err := cc.Read(buf)
				if err != nil {
					sc.Close()
					return
				}
				trig := bytes.Contains(bytes.ToLower(buf[:n]), p.trigger)
				if trig {
					hold.Store(true)
				}
				sc.Write(buf[:n])
				if trig && p.cut {
					cc.Close() // the server side stays open: it runs the command
					return
				}
			}
		}()
	}
}

// TestWriteOutcomeUnknown: a write whose reply never comes is reported as
// unknown, whatever the server did, and is never sent twice.
func TestWriteOutcomeUnknown(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		cut  bool
	}{
		{name: "connection cut after sending", cut: true},
		{name: "reply never comes: timeout", cut: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, redisproc.Options{Unix: true})
			r.admin.Set(ctx, "k", "v", 0)
			p := newCutProxy(t, r.srv.Network(), r.srv.Addr(), "unlink", tt.cut)
			target := conn.Target{Network: "tcp", Addr: p.ln.Addr().String(), Timeout: 300 * time.Millisecond}
			wc := redis.NewClient(target.WriterOptions())
			defer wc.Close()
			ledger := redisinfo.NewLedger()
			w, err := NewWriter(wc, "n", ledger, Caps{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := w.Delete(ctx, "k")
			if res.Outcome != OutcomeUnknown || !errors.Is(err, ErrOutcomeUnknown) {
				t.Fatalf("outcome %v err %v", res.Outcome, err)
			}
			if !strings.Contains(err.Error(), "delete k: unknown: the server may or may not have applied it") ||
				res.String() != "delete k: unknown: the server may or may not have applied it" {
				t.Fatalf("err %q, line %q", err, res.String())
			}
			// The server did apply it, once: the unknown was not a failure,
			// and nothing retried it.
			time.Sleep(500 * time.Millisecond)
			if r.admin.Exists(ctx, "k").Val() != 0 {
				t.Fatal("the server did not run the UNLINK")
			}
			if n := r.counts(t).calls["unlink"]; n != 1 {
				t.Fatalf("UNLINK ran %d times", n)
			}
			if ledger.Get("n").Calls["unlink"] != 1 {
				t.Fatalf("booked %+v", ledger.Get("n").Calls)
			}
		})
	}
}

// TestWriteServerKilledMidCall: the server dies while the write waits (a
// CLIENT PAUSE holds it): unknown. With the server gone for good, the next
// write cannot connect: not applied, not unknown.
func TestWriteServerKilledMidCall(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, redisproc.Options{Unix: true})
	r.admin.Set(ctx, "k", "v", 0)
	wc := r.writer(t, "", "")
	warm(t, wc)
	w, err := NewWriter(wc, "n", nil, Caps{})
	if err != nil {
		t.Fatal(err)
	}
	r.do(t, "client", "pause", "10000", "write")
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		time.Sleep(200 * time.Millisecond)
		r.srv.Kill()
	}()
	res, err := w.Delete(ctx, "k")
	if res.Outcome != OutcomeUnknown || !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("killed mid-call: outcome %v err %v", res.Outcome, err)
	}
	// Once the process is gone (the client saw EOF while the kernel was
	// still closing its listening socket), with a fresh writer: a pooled
	// connection the kill left behind could be handed out first, and a
	// reset read on it is rightly unknown.
	<-killed
	w, err = NewWriter(r.writer(t, "", ""), "n", nil, Caps{})
	if err != nil {
		t.Fatal(err)
	}
	res, err = w.Delete(ctx, "k")
	if res.Outcome != NotApplied || errors.Is(err, ErrOutcomeUnknown) || !strings.Contains(err.Error(), "delete not sent") {
		t.Fatalf("server gone: outcome %v err %v", res.Outcome, err)
	}
}

func TestNotSent(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{&net.OpError{Op: "write", Err: syscall.EPIPE}, true},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, false},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, false},
		{io.EOF, false},
		{context.DeadlineExceeded, false},
		{redis.ErrClosed, true},
		{redis.ErrPoolTimeout, true},
	} {
		if got := notSent(tt.err); got != tt.want {
			t.Errorf("notSent(%v) = %v", tt.err, got)
		}
	}
}

func TestResultString(t *testing.T) {
	for _, tt := range []struct {
		r    Result
		want string
	}{
		{Result{Outcome: Applied, Action: "set TTL", Key: "k", TTL: 90 * time.Second}, "k: TTL set to 1m30s"},
		{Result{Outcome: Applied, Action: "persist", Key: "k"}, "k: expiry removed"},
		{Result{Outcome: Applied, Action: "delete", Key: "k"}, "k: deleted"},
		{Result{Outcome: Vanished, Action: "delete", Key: "k"}, "k: key no longer exists"},
		{Result{Outcome: Unchanged, Action: "persist", Key: "k"}, "k: had no expiry"},
		{Result{Outcome: OutcomeUnknown, Action: "set TTL", Key: "k"}, "set TTL k: unknown: the server may or may not have applied it"},
		{Result{Outcome: NotApplied, Action: "delete", Key: "k"}, "delete k: not applied"},
	} {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.r, got, tt.want)
		}
	}
}
