package redisinfo

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func findClient(cs []Client, name string) (Client, bool) {
	for _, c := range cs {
		if c.Name == name {
			return c, true
		}
	}
	return Client{}, false
}

func TestFetchAndKillClient(t *testing.T) {
	r := newActRig(t)
	victim := dialRaw(t, r.srv.Network(), r.srv.Addr())
	victim.send(t, false, "client", "setname", "victim")
	reader, w := r.client(t, ""), r.writer(t, "")
	warmUp(t, reader)
	warmUp(t, w)
	ledger := NewLedger()

	before := r.counts(t)
	cs, err := FetchClients(actCtx(), reader, "n", ledger)
	if err != nil {
		t.Fatal(err)
	}
	checkBooked(t, before, r.counts(t), ledger.Get("n"), true)

	v, ok := findClient(cs, "victim")
	if !ok || v.Own {
		t.Fatalf("victim %+v in %+v", v, cs)
	}
	var own, admin int
	for _, c := range cs {
		switch {
		case c.Own && c.Name == "redtop":
			own++
		case c.Name == "test-admin" && !c.Own:
			admin++
		}
	}
	if own < 2 || admin != 1 { // the reader's and the writer's connections
		t.Errorf("own %d admin %d: %+v", own, admin, cs)
	}

	ledger = NewLedger()
	before = r.counts(t)
	msg, err := KillClient(actCtx(), w, "n", ledger, v.ID)
	if err != nil || msg != "client "+strconv.FormatInt(v.ID, 10)+" killed" {
		t.Fatalf("kill: %q, %v", msg, err)
	}
	msg, err = KillClient(actCtx(), w, "n", ledger, v.ID)
	if err != nil || !strings.HasSuffix(msg, "already gone") {
		t.Fatalf("kill again: %q, %v", msg, err)
	}
	msg, err = KillClient(actCtx(), w, "n", ledger, 999999)
	if err != nil || msg != "client 999999 already gone" {
		t.Fatalf("kill a vanished id: %q, %v", msg, err)
	}
	checkBooked(t, before, r.counts(t), ledger.Get("n"), true)

	victim.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := victim.r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("the victim's connection: %v, want EOF", err)
	}
	cs, err = FetchClients(actCtx(), reader, "n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := findClient(cs, "victim"); ok {
		t.Error("victim still listed")
	}
}

func TestKillClientErrors(t *testing.T) {
	r := newActRig(t)
	r.addUser(t, "viewer", "+@read", "+@connection", "+client|setname", "-client|kill", "+ping")
	tests := []struct {
		name    string
		w       func(t *testing.T) *redis.Client
		ctx     func() (context.Context, func())
		before  func(t *testing.T)
		wantErr error
		wantMsg string
	}{
		{name: "a client that retries is refused before sending",
			w:       func(t *testing.T) *redis.Client { return r.client(t, "") },
			wantMsg: "not sent: writer client retries"},
		{name: "cancelled before sending",
			w: func(t *testing.T) *redis.Client { return r.writer(t, "") },
			ctx: func() (context.Context, func()) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, func() {}
			},
			wantErr: context.Canceled, wantMsg: "not sent"},
		{name: "NOPERM",
			w:       func(t *testing.T) *redis.Client { return r.writer(t, "viewer") },
			wantErr: ErrNotAllowed, wantMsg: "needs +client|kill (NOPERM"},
		{name: "no reply in time: outcome unknown",
			w: func(t *testing.T) *redis.Client { return r.writer(t, "") },
			before: func(t *testing.T) {
				r.do(t, "client", "pause", "1500", "all")
			},
			ctx: func() (context.Context, func()) {
				return context.WithTimeout(context.Background(), 300*time.Millisecond)
			},
			wantErr: ErrOutcomeUnknown, wantMsg: "CLIENT KILL ID 12345: unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.w(t)
			warmUp(t, w)
			if tt.before != nil {
				tt.before(t)
				t.Cleanup(func() { r.do(t, "client", "unpause") })
			}
			ctx, cancel := context.Background(), func() {}
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			msg, err := KillClient(ctx, w, "n", nil, 12345)
			if err == nil {
				t.Fatalf("no error, %q", msg)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q lacks %q", err, tt.wantMsg)
			}
		})
	}
}
