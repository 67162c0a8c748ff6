package redisinfo

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// monRules is the monitoring user of the brief: reads, connection
// commands, INFO, nothing dangerous (so no CLIENT LIST, SLOWLOG, CONFIG,
// LATENCY, MONITOR, ACL DRYRUN). +client|setname: go-redis names every
// connection it opens.
var monRules = []string{"+@read", "+@connection", "+client|setname", "+info", "-@dangerous"}

func allPerms(a Access, why map[Feature]string) map[Feature]Perm {
	m := map[Feature]Perm{}
	for _, f := range Features {
		m[f] = Perm{Access: a, Why: why[f]}
	}
	return m
}

func TestProbePerms(t *testing.T) {
	plain := newActRig(t)
	plain.addUser(t, "mon", monRules...)
	plain.addUser(t, "mondry", append(monRules, "+acl|whoami", "+acl|dryrun")...)
	plain.addUser(t, "partial", append(monRules, "+acl|whoami", "+acl|dryrun", "+client|list", "+slowlog|get", "+latency")...)
	plain.addUser(t, "nocommand", append(monRules, "-command")...)
	renamed := newActRig(t, "--rename-command", "SLOWLOG", "", "--rename-command", "CONFIG", "cfg-9f3a")

	denied := map[Feature]string{}
	for _, f := range Features {
		denied[f] = "needs +" + string(f)
	}
	tests := []struct {
		name    string
		rig     *actRig
		user    string
		want    map[Feature]Perm
		wantUsr string
		checked bool
		notes   []string
	}{
		{name: "default user", rig: plain, want: allPerms(AccessAllowed, nil), wantUsr: "default", checked: true},
		{name: "monitoring user who may not ask", rig: plain, user: "mon", want: allPerms(AccessUnknown, nil),
			notes: []string{"permissions: ACL WHOAMI: NOPERM"}},
		{name: "monitoring user who may ask", rig: plain, user: "mondry", want: allPerms(AccessDenied, denied),
			wantUsr: "mondry", checked: true},
		{name: "some allowed", rig: plain, user: "partial", wantUsr: "partial", checked: true, want: map[Feature]Perm{
			FeatureMonitor:       {AccessDenied, "needs +monitor"},
			FeatureClientList:    {AccessAllowed, ""},
			FeatureClientKill:    {AccessDenied, "needs +client|kill"},
			FeatureSlowlogGet:    {AccessAllowed, ""},
			FeatureSlowlogReset:  {AccessDenied, "needs +slowlog|reset"},
			FeatureConfigGet:     {AccessDenied, "needs +config|get"},
			FeatureLatencyLatest: {AccessAllowed, ""},
		}},
		{name: "without COMMAND INFO", rig: plain, user: "nocommand", want: allPerms(AccessUnknown, nil),
			notes: []string{"commands: COMMAND INFO: NOPERM", "permissions: ACL WHOAMI: NOPERM"}},
		{name: "renamed commands", rig: renamed, wantUsr: "default", checked: true, want: map[Feature]Perm{
			FeatureMonitor:       {AccessAllowed, ""},
			FeatureClientList:    {AccessAllowed, ""},
			FeatureClientKill:    {AccessAllowed, ""},
			FeatureSlowlogGet:    {AccessMissing, "SLOWLOG is disabled or renamed on this server"},
			FeatureSlowlogReset:  {AccessMissing, "SLOWLOG is disabled or renamed on this server"},
			FeatureConfigGet:     {AccessMissing, "CONFIG is disabled or renamed on this server"},
			FeatureLatencyLatest: {AccessAllowed, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.rig.client(t, tt.user)
			warmUp(t, c)
			ledger := NewLedger()
			logBefore := tt.rig.aclLog(t)
			before := tt.rig.counts(t)
			p := ProbePerms(actCtx(), c, "n", ledger)
			checkBooked(t, before, tt.rig.counts(t), ledger.Get("n"), false)

			for _, f := range Features {
				if got := p.Get(f); got != tt.want[f] {
					t.Errorf("%s: %+v, want %+v", f, got, tt.want[f])
				}
				if p.Allowed(f) != (tt.want[f].Access == AccessAllowed || tt.want[f].Access == AccessUnknown) {
					t.Errorf("%s: Allowed %v", f, p.Allowed(f))
				}
				if p.Explain(f) != tt.want[f].Why {
					t.Errorf("%s: Explain %q", f, p.Explain(f))
				}
			}
			if p.User != tt.wantUsr || p.Checked != tt.checked {
				t.Errorf("user %q checked %v", p.User, p.Checked)
			}
			notes := strings.Join(p.Notes, "\n")
			for _, n := range tt.notes {
				if !strings.Contains(notes, n) {
					t.Errorf("notes %q lack %q", notes, n)
				}
			}
			if len(tt.notes) == 0 && notes != "" {
				t.Errorf("notes: %s", notes)
			}
			// Its own refusals leave at most one ACL LOG entry each.
			for obj, n := range tt.rig.aclLog(t) {
				if d := n - logBefore[obj]; d > 1 {
					t.Errorf("ACL LOG: %s refused %d times", obj, d)
				}
			}
		})
	}
}

// gatedCall is one feature as a pane would use it.
type gatedCall struct {
	f    Feature
	call func(ctx context.Context) error
}

func gatedCalls(c, w *redis.Client, ledger *Ledger) []gatedCall {
	return []gatedCall{
		{FeatureMonitor, func(ctx context.Context) error {
			// Only ever refused here; MONITOR proper runs on a raw connection.
			return c.Do(ctx, "monitor").Err()
		}},
		{FeatureClientList, func(ctx context.Context) error { _, err := FetchClients(ctx, c, "n", ledger); return err }},
		{FeatureClientKill, func(ctx context.Context) error { _, err := KillClient(ctx, w, "n", ledger, 424242); return err }},
		{FeatureSlowlogGet, func(ctx context.Context) error { _, err := FetchSlowlog(ctx, c, "n", ledger, 0); return err }},
		{FeatureSlowlogReset, func(ctx context.Context) error { _, err := ResetSlowlog(ctx, w, "n", ledger); return err }},
		{FeatureConfigGet, func(ctx context.Context) error { _, _, err := SlowlogConfig(ctx, c, "n", ledger); return err }},
		{FeatureConfigGet, func(ctx context.Context) error { _, _, err := LatencyEnabled(ctx, c, "n", ledger); return err }},
		{FeatureLatencyLatest, func(ctx context.Context) error { _, err := FetchLatencyLatest(ctx, c, "n", ledger); return err }},
	}
}

// TestGateKeepsACLLogShort: a monitoring user whom nothing can be asked
// about (ProbePerms leaves all unknown) polls every pane ten times; each
// refused command reaches the server once.
func TestGateKeepsACLLogShort(t *testing.T) {
	r := newActRig(t)
	r.addUser(t, "mon", monRules...)
	c, w := r.client(t, "mon"), r.writer(t, "mon")
	warmUp(t, c)
	warmUp(t, w)
	ledger := NewLedger()
	gate := NewGate(ProbePerms(actCtx(), c, "n", ledger))

	explained := map[Feature]string{}
	var mu sync.Mutex
	for round := 0; round < 10; round++ {
		var wg sync.WaitGroup // panes call in their own goroutines, at once
		for _, gc := range gatedCalls(c, w, ledger) {
			wg.Go(func() {
				err := gate.Do(gc.f, func() error { return gc.call(actCtx()) })
				var fe *FeatureError
				if !errors.As(err, &fe) || !errors.Is(err, ErrNotAllowed) {
					t.Errorf("%s: %v", gc.f, err)
					return
				}
				mu.Lock()
				explained[gc.f] = fe.Why
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	for _, f := range Features {
		want := "needs +" + string(f)
		if explained[f] != want || gate.Explain(f) != want || gate.Allowed(f) {
			t.Errorf("%s: Do said %q, Explain %q, Allowed %v", f, explained[f], gate.Explain(f), gate.Allowed(f))
		}
	}
	// The probe's ACL WHOAMI and each feature's command, once; the two
	// CONFIG GET callers share one gate.
	log := r.aclLog(t)
	for obj, n := range log {
		if n != 1 {
			t.Errorf("ACL LOG: %s refused %d times", obj, n)
		}
	}
	if len(log) != len(Features)+1 {
		t.Errorf("ACL LOG objects %v", log)
	}
	t.Logf("ACL LOG after 10 rounds: %v", log)
}

// TestGateRenamedCommands: a server without SLOWLOG and with CONFIG
// renamed, and nothing probed: the first call of each explains, and the
// server sees one error, not one per poll.
func TestGateRenamedCommands(t *testing.T) {
	r := newActRig(t, "--rename-command", "SLOWLOG", "", "--rename-command", "CONFIG", "cfg-9f3a")
	c, w := r.client(t, ""), r.writer(t, "")
	warmUp(t, c)
	warmUp(t, w)
	gate := NewGate(Perms{})
	before := r.counts(t)
	fails := 0
	for round := 0; round < 10; round++ {
		for _, gc := range gatedCalls(c, w, nil) {
			if gc.f == FeatureMonitor || !gate.Allowed(gc.f) {
				continue
			}
			if err := gc.call(actCtx()); err != nil {
				fails++
				why := gate.Fail(gc.f, err)
				if !errors.Is(err, ErrUnavailable) || !strings.HasSuffix(why, "is disabled or renamed on this server") {
					t.Errorf("%s: %v → %q", gc.f, err, why)
				}
			}
		}
	}
	after := r.counts(t)
	// SLOWLOG GET fails once and closes SLOWLOG RESET too; CONFIG GET once.
	if d := after.errors - before.errors; fails != 2 || d != 2 {
		t.Errorf("%d failures, %d error replies on the server", fails, d)
	}
	for f, want := range map[Feature]string{
		FeatureSlowlogGet:   "SLOWLOG is disabled or renamed on this server",
		FeatureSlowlogReset: "SLOWLOG is disabled or renamed on this server",
		FeatureConfigGet:    "CONFIG is disabled or renamed on this server",
		FeatureClientList:   "",
	} {
		if got := gate.Explain(f); got != want {
			t.Errorf("%s: %q, want %q", f, got, want)
		}
	}
}

func TestGateDo(t *testing.T) {
	var p Perms
	p.set(FeatureMonitor, AccessDenied, "needs +monitor")
	p.set(FeatureClientList, AccessAllowed, "")
	gate := NewGate(p)
	calls := 0
	call := func() error { calls++; return nil }
	if err := gate.Do(FeatureMonitor, call); !errors.Is(err, ErrNotAllowed) || err.Error() != "needs +monitor" || calls != 0 {
		t.Errorf("closed gate: %v, %d calls", err, calls)
	}
	if err := gate.Do(FeatureClientList, call); err != nil || calls != 1 {
		t.Errorf("allowed: %v, %d calls", err, calls)
	}
	timeout := func() error { return context.DeadlineExceeded }
	if err := gate.Do(FeatureSlowlogGet, timeout); !errors.Is(err, context.DeadlineExceeded) || !gate.Allowed(FeatureSlowlogGet) {
		t.Errorf("a timeout: %v, allowed %v", err, gate.Allowed(FeatureSlowlogGet))
	}
	gone := func() error { return errors.New("ERR unknown command 'slowlog', with args beginning with: 'reset' ") }
	if err := gate.Do(FeatureSlowlogReset, gone); !errors.Is(err, ErrUnavailable) || gate.Allowed(FeatureSlowlogGet) {
		t.Errorf("unknown command: %v; SLOWLOG GET allowed %v", err, gate.Allowed(FeatureSlowlogGet))
	}
}

func TestGateTransientFailuresStayOpen(t *testing.T) {
	gate := NewGate(Perms{})
	if why := gate.Fail(FeatureClientList, context.DeadlineExceeded); why != "context deadline exceeded" || !gate.Allowed(FeatureClientList) {
		t.Errorf("a timeout closed the gate: %q", why)
	}
	if why := gate.Fail(FeatureClientList, nil); why != "" || !gate.Allowed(FeatureClientList) {
		t.Errorf("nil: %q", why)
	}
	var p Perms
	p.set(FeatureMonitor, AccessDenied, "needs +monitor")
	gate = NewGate(p)
	if gate.Allowed(FeatureMonitor) || gate.Explain(FeatureMonitor) != "needs +monitor" || !gate.Allowed(FeatureClientList) {
		t.Error("a gate does not start from its Perms")
	}
}

func TestProbePermsServerGone(t *testing.T) {
	r := newActRig(t)
	c := r.client(t, "")
	warmUp(t, c)
	r.srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	p := ProbePerms(ctx, c, "n", nil)
	for _, f := range Features {
		if p.Get(f).Access != AccessUnknown || !p.Allowed(f) {
			t.Errorf("%s: %+v", f, p.Get(f))
		}
	}
	if len(p.Notes) != 1 || !strings.HasPrefix(p.Notes[0], "permissions not checked: ") {
		t.Errorf("notes %q", p.Notes)
	}
}
