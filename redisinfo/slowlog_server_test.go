package redisinfo

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSlowlog(t *testing.T) {
	r := newActRig(t)
	reader, w := r.client(t, ""), r.writer(t, "")
	warmUp(t, reader)
	warmUp(t, w)
	ledger := NewLedger()

	before := r.counts(t)
	slower, maxLen, err := SlowlogConfig(actCtx(), reader, "n", ledger)
	if err != nil || slower != 10*time.Millisecond || maxLen != 128 {
		t.Fatalf("defaults: %v %d %v", slower, maxLen, err)
	}
	checkBooked(t, before, r.counts(t), ledger.Get("n"), true)

	r.do(t, "config", "set", "slowlog-log-slower-than", "0")
	if slower, _, _ := SlowlogConfig(actCtx(), reader, "n", nil); slower != 0 {
		t.Fatalf("slower-than %v", slower)
	}
	app := dialRaw(t, r.srv.Network(), r.srv.Addr())
	app.send(t, false, "client", "setname", "app")
	app.send(t, false, "set", "k\x1b\xff\n", "hello world")
	app.send(t, false, "set", "big", strings.Repeat("x", 200))
	many := []string{"rpush", "list"}
	for i := 0; i < 40; i++ {
		many = append(many, "e")
	}
	app.send(t, false, many...)

	var seen SlowlogSeen
	ledger = NewLedger()
	before = r.counts(t)
	es, err := FetchSlowlog(actCtx(), reader, "n", ledger, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkBooked(t, before, r.counts(t), ledger.Get("n"), true)
	if n := seen.Mark(es); n != 0 {
		t.Errorf("%d new at start", n)
	}
	if len(es) < 4 || es[0].ID < es[len(es)-1].ID {
		t.Fatalf("entries not newest first: %+v", es)
	}
	byCmd := map[string]SlowEntry{}
	for _, e := range es {
		byCmd[e.Args[0]+" "+e.Args[1]] = e
	}
	tests := []struct {
		key     string
		command string
		args    []string
	}{
		{"set k\x1b\xff\n", `set k\x1b\xff\n "hello world"`, []string{"set", "k\x1b\xff\n", "hello world"}},
		{"set big", "set big " + strings.Repeat("x", 128) + "… (72 more bytes)", nil},
		{"rpush list", "rpush list " + strings.Repeat("e ", 29) + "… (11 more arguments)", nil},
	}
	for _, tt := range tests {
		e, ok := byCmd[tt.key]
		if !ok {
			t.Errorf("no entry for %q in %+v", tt.key, es)
			continue
		}
		if e.Command != tt.command || e.ClientName != "app" || !strings.HasPrefix(e.ClientAddr, "127.0.0.1:") ||
			time.Since(e.Time) > time.Minute {
			t.Errorf("%q: %+v", tt.key, e)
		}
		if tt.args != nil && !slices.Equal(e.Args, tt.args) {
			t.Errorf("raw args %q, want %q", e.Args, tt.args)
		}
	}

	app.send(t, false, "get", "k")
	app.send(t, false, "get", "big")
	es, err = FetchSlowlog(actCtx(), reader, "n", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// New: the two GETs, and the app's and the rig's commands in between
	// (slowlog-log-slower-than 0 logs everything, redtop's too).
	if n := seen.Mark(es); n < 2 || !es[0].New {
		t.Errorf("%d new after two GETs: %+v", n, es[:3])
	}
	seen.See(es)
	if n := seen.Mark(es); n != 0 {
		t.Errorf("%d new right after seeing", n)
	}
	top := es[0].ID

	ledger = NewLedger()
	before = r.counts(t)
	msg, err := ResetSlowlog(actCtx(), w, "n", ledger)
	if err != nil || msg != "slow log cleared" {
		t.Fatalf("reset: %q %v", msg, err)
	}
	checkBooked(t, before, r.counts(t), ledger.Get("n"), true)
	es, err = FetchSlowlog(actCtx(), reader, "n", nil, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) > 5 {
		t.Errorf("asked 5, got %d", len(es))
	}
	for _, e := range es {
		if e.ID <= top {
			t.Errorf("entry %d from before the reset: %+v", e.ID, e)
		}
	}
}

func TestSlowlogDenied(t *testing.T) {
	r := newActRig(t)
	r.addUser(t, "mon", "+@read", "+@connection", "+client|setname", "+info", "-@dangerous")
	c, w := r.client(t, "mon"), r.writer(t, "mon")
	warmUp(t, c)
	warmUp(t, w)
	tests := []struct {
		name string
		call func(l *Ledger) error
		kind error
		why  string
	}{
		{"config get", func(l *Ledger) error { _, _, err := SlowlogConfig(actCtx(), c, "n", l); return err }, ErrNotAllowed, "needs +config|get"},
		{"latency threshold", func(l *Ledger) error { _, _, err := LatencyEnabled(actCtx(), c, "n", l); return err }, ErrNotAllowed, "needs +config|get"},
		{"slowlog get", func(l *Ledger) error { _, err := FetchSlowlog(actCtx(), c, "n", l, 0); return err }, ErrNotAllowed, "needs +slowlog|get"},
		{"slowlog reset", func(l *Ledger) error { _, err := ResetSlowlog(actCtx(), w, "n", l); return err }, ErrNotAllowed, "needs +slowlog|reset"},
		{"latency latest", func(l *Ledger) error { _, err := FetchLatencyLatest(actCtx(), c, "n", l); return err }, ErrNotAllowed, "needs +latency|latest"},
		{"client list", func(l *Ledger) error { _, err := FetchClients(actCtx(), c, "n", l); return err }, ErrNotAllowed, "needs +client|list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ledger := NewLedger()
			err := tt.call(ledger)
			var fe *FeatureError
			if !errors.Is(err, tt.kind) || !errors.As(err, &fe) || fe.Why != tt.why {
				t.Fatalf("%v, want %v %q", err, tt.kind, tt.why)
			}
			if !strings.HasPrefix(err.Error(), tt.why+" (NOPERM") {
				t.Errorf("message %q", err)
			}
			if own := ledger.Get("n"); own.TotalCalls() != 0 || own.NetIn == 0 || own.NetOut != int64(len(fe.Reply.Error())+3) {
				t.Errorf("a refused command is no call, but bytes: %+v", own)
			}
		})
	}
}
