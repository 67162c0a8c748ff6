package keys

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/internal/redisproc"
	"redtop/redisinfo"
)

// rig is a private redis-server with an admin client that plays the
// application (its traffic is not redtop's).
type rig struct {
	srv   *redisproc.Server
	admin *redis.Client
}

func newRig(t testing.TB, opt redisproc.Options) *rig {
	t.Helper()
	srv := redisproc.ForTest(t, opt)
	r := &rig{srv: srv}
	r.admin = r.client(t, "", "")
	return r
}

func (r *rig) target(user, pass string) conn.Target {
	return conn.Target{Network: r.srv.Network(), Addr: r.srv.Addr(), User: user, Password: pass, Timeout: 2 * time.Second}
}

// client is a reading client built like redtop's, as user (default when "").
func (r *rig) client(t testing.TB, user, pass string) *redis.Client {
	t.Helper()
	c := redis.NewClient(r.target(user, pass).Options())
	t.Cleanup(func() { c.Close() })
	return c
}

// writer is a writing client built like redtop's: retries off.
func (r *rig) writer(t testing.TB, user, pass string) *redis.Client {
	t.Helper()
	c := redis.NewClient(r.target(user, pass).WriterOptions())
	t.Cleanup(func() { c.Close() })
	return c
}

// warm opens c's connections before a counted window: go-redis keeps a
// separate pool for pipelines, and each new connection sends HELLO and
// CLIENT SETNAME.
func warm(t testing.TB, c *redis.Client) {
	t.Helper()
	ctx := context.Background()
	// EXISTS: every test user may run it.
	if err := c.Exists(ctx, "app:warm").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error { return p.Exists(ctx, "app:warm").Err() }); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) do(t testing.TB, args ...any) {
	t.Helper()
	if err := r.admin.Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
}

// addUser creates an ACL user with password "pw" who may name its
// connection (CLIENT SETNAME, which every redtop connection sends).
func (r *rig) addUser(t testing.TB, name string, rules ...string) {
	t.Helper()
	args := []any{"acl", "setuser", name, "on", ">pw", "+client|setname"} // redtop names its connections
	for _, rule := range rules {
		args = append(args, rule)
	}
	r.do(t, args...)
}

// serverCounts is what the server counted, from INFO stats and commandstats.
type serverCounts struct {
	hits, misses, total int64
	calls               map[string]int64
	maxUsecPerCall      float64
	maxUsecCmd          string
	netOut              int64
}

func (r *rig) counts(t testing.TB) serverCounts {
	t.Helper()
	text, err := r.admin.Info(context.Background(), "stats", "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	in := redisinfo.Parse(text)
	c := serverCounts{
		hits: in.Int("keyspace_hits"), misses: in.Int("keyspace_misses"),
		total: in.Int("total_commands_processed"), netOut: in.Int("total_net_output_bytes"),
		calls: map[string]int64{},
	}
	for name, st := range in.Commands {
		c.calls[name] = st.Calls
		if st.Calls > 0 {
			if per := float64(st.Usec) / float64(st.Calls); per > c.maxUsecPerCall {
				c.maxUsecPerCall, c.maxUsecCmd = per, name
			}
		}
	}
	return c
}

// checkBooked compares what the server counted between before and after
// with what redtop booked in the ledger for node: keyspace hits and misses,
// commands processed and each command's calls, exactly. The rig's own INFO
// (the one that read before) is the only other command in between.
func checkBooked(t *testing.T, before, after serverCounts, own redisinfo.Own) {
	t.Helper()
	if dh, dm := after.hits-before.hits, after.misses-before.misses; dh != own.Hits || dm != own.Misses {
		t.Errorf("server counted %d hits, %d misses; redtop booked %d hits, %d misses", dh, dm, own.Hits, own.Misses)
	}
	if d := after.total - before.total; d != own.TotalCalls()+1 {
		t.Errorf("server processed %d commands; redtop booked %d (+1 INFO)", d, own.TotalCalls())
	}
	names := map[string]bool{}
	for n := range after.calls {
		names[n] = true
	}
	for n := range own.Calls {
		names[n] = true
	}
	for n := range names {
		want := own.Calls[n]
		if n == "info" {
			want++
		}
		if d := after.calls[n] - before.calls[n]; d != want {
			t.Errorf("%s: server counted %d calls, redtop booked %d", n, d, own.Calls[n])
		}
	}
}

func TestProbe(t *testing.T) {
	ctx := context.Background()
	master := newRig(t, redisproc.Options{})
	master.addUser(t, "viewer", "~*", "+@read", "+info", "+acl|dryrun", "-@write")
	master.addUser(t, "ttlonly", "~*", "+@read", "+info", "+acl|dryrun", "+pexpire", "+persist")
	master.addUser(t, "ro", "~*", "+@read", "-@write")
	// Without ACL DRYRUN (it is @admin): the write commands answer for themselves.
	master.addUser(t, "app", "~*", "+@read", "+@write", "+info")
	master.addUser(t, "unlinker", "~*", "+@read", "+info", "+unlink")
	master.addUser(t, "prefixed", "~app:*", "+@read", "+@write", "+info")
	lfu := newRig(t, redisproc.Options{Unix: true, Args: []string{"--maxmemory-policy", "allkeys-lfu"}})
	replica := newRig(t, redisproc.Options{Unix: true, Args: []string{"--replicaof", "127.0.0.1", strconv.Itoa(master.srv.Port)}})

	tests := []struct {
		name       string
		rig        *rig
		user       string
		want       Caps
		unknownHas []string
		refused    map[string]int64 // ACL LOG: object (a key: its prefix) → count
	}{
		{name: "default user", rig: master,
			want: Caps{Version: "7.0.15", Policy: "noeviction", ACLChecked: true}},
		{name: "lfu", rig: lfu,
			want: Caps{Version: "7.0.15", Policy: "allkeys-lfu", LFU: true, ACLChecked: true}},
		{name: "replica", rig: replica,
			want: Caps{Version: "7.0.15", Policy: "noeviction", ReadOnly: true, ReadOnlyReason: "connected to a replica", ACLChecked: true}},
		{name: "user without writes", rig: master, user: "viewer",
			want: Caps{Version: "7.0.15", Policy: "noeviction", ReadOnly: true, ACLChecked: true,
				ReadOnlyReason: "user viewer lacks +unlink, +pexpire, +persist",
				Denied:         map[string]string{"unlink": "user viewer lacks +unlink", "pexpire": "user viewer lacks +pexpire", "persist": "user viewer lacks +persist"}}},
		{name: "user without unlink", rig: master, user: "ttlonly",
			want: Caps{Version: "7.0.15", Policy: "noeviction", ACLChecked: true,
				Denied: map[string]string{"unlink": "user ttlonly lacks +unlink"}}},
		{name: "user who may not ask", rig: master, user: "ro",
			want: Caps{ReadOnly: true, ACLChecked: true,
				ReadOnlyReason: "user ro lacks +unlink, +pexpire, +persist",
				Denied:         map[string]string{"unlink": "user ro lacks +unlink", "pexpire": "user ro lacks +pexpire", "persist": "user ro lacks +persist"}},
			unknownHas: []string{"INFO refused: NOPERM", "CONFIG GET refused: NOPERM"},
			refused:    map[string]int64{"info": 1, "config|get": 1, "acl|dryrun": 1, "unlink": 1, "pexpire": 1, "persist": 1}},
		{name: "user who may write but not ask", rig: master, user: "app",
			want:    Caps{Version: "7.0.15", Policy: "noeviction", ACLChecked: true},
			refused: map[string]int64{"acl|dryrun": 1}},
		{name: "user who may only unlink and not ask", rig: master, user: "unlinker",
			want: Caps{Version: "7.0.15", Policy: "noeviction", ACLChecked: true,
				Denied: map[string]string{"pexpire": "user unlinker lacks +pexpire", "persist": "user unlinker lacks +persist"}},
			refused: map[string]int64{"acl|dryrun": 1, "pexpire": 1, "persist": 1}},
		{name: "key patterns do not cover the probe key", rig: master, user: "prefixed",
			want:       Caps{Version: "7.0.15", Policy: "noeviction"},
			unknownHas: []string{"key patterns do not cover redtop:probe:"},
			refused:    map[string]int64{"acl|dryrun": 1, "redtop:probe:": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pass := ""
			if tt.user != "" {
				pass = "pw"
			}
			c := tt.rig.client(t, tt.user, pass)
			warm(t, c)
			tt.rig.do(t, "acl", "log", "reset")
			keysBefore := tt.rig.admin.DBSize(ctx).Val()
			ledger := redisinfo.NewLedger()
			before := tt.rig.counts(t)
			caps, err := Probe(ctx, c, "n", ledger)
			if err != nil {
				t.Fatal(err)
			}
			checkBooked(t, before, tt.rig.counts(t), ledger.Get("n"))
			if n := tt.rig.admin.DBSize(ctx).Val(); n != keysBefore {
				t.Errorf("the probe changed the key count: %d, then %d", keysBefore, n)
			}
			wantRefused(t, tt.rig, tt.refused)
			unknown := strings.Join(caps.Unknown, "\n")
			caps.Unknown = nil
			if !capsEqual(caps, tt.want) {
				t.Fatalf("caps\n got %+v\nwant %+v", caps, tt.want)
			}
			for _, s := range tt.unknownHas {
				if !strings.Contains(unknown, s) {
					t.Errorf("Unknown %q lacks %q", unknown, s)
				}
			}
			if len(tt.unknownHas) == 0 && unknown != "" {
				t.Errorf("unexpected Unknown: %s", unknown)
			}
		})
	}
}

// wantRefused checks the server's ACL LOG holds exactly the refusals want:
// object (or, for a key, a prefix of it) → count.
func wantRefused(t *testing.T, r *rig, want map[string]int64) {
	t.Helper()
	v, err := r.admin.Do(context.Background(), "acl", "log", "128").Slice()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, e := range v {
		kv, _ := e.([]any)
		var obj string
		var n int64
		for i := 0; i+1 < len(kv); i += 2 {
			switch kv[i] {
			case "object":
				obj, _ = kv[i+1].(string)
			case "count":
				n, _ = kv[i+1].(int64)
			}
		}
		for w := range want {
			if strings.HasSuffix(w, ":") && strings.HasPrefix(obj, w) {
				obj = w
			}
		}
		got[obj] += n
	}
	if len(got) != len(want) {
		t.Errorf("ACL LOG %v, want %v", got, want)
		return
	}
	for obj, n := range want {
		if got[obj] != n {
			t.Errorf("ACL LOG %v, want %v", got, want)
			return
		}
	}
}

// TestProbeWithoutDryRun is a 6.x server's path: no ACL DRYRUN, the write
// commands answer for themselves, and a user who may write changes nothing.
func TestProbeWithoutDryRun(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, redisproc.Options{Unix: true})
	r.addUser(t, "viewer", "~*", "+@read")
	r.do(t, "set", "app:k", "v")
	for _, tt := range []struct {
		name, user string
		want       Caps
		refused    map[string]int64
	}{
		{name: "default user", want: Caps{ACLChecked: true}},
		{name: "user without writes", user: "viewer", want: Caps{ACLChecked: true, ReadOnly: true, ReadOnlyReason: "user viewer lacks +unlink, +pexpire, +persist",
			Denied: map[string]string{"unlink": "user viewer lacks +unlink", "pexpire": "user viewer lacks +pexpire", "persist": "user viewer lacks +persist"}},
			refused: map[string]int64{"unlink": 1, "pexpire": 1, "persist": 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pass := ""
			if tt.user != "" {
				pass = "pw"
			}
			c := r.client(t, tt.user, pass)
			warm(t, c)
			r.do(t, "acl", "log", "reset")
			ledger := redisinfo.NewLedger()
			before := r.counts(t)
			var caps Caps
			if err := probeACL(ctx, c, "n", ledger, &caps, false); err != nil {
				t.Fatal(err)
			}
			after := r.counts(t)
			checkBooked(t, before, after, ledger.Get("n"))
			if after.calls["acl|dryrun"] != before.calls["acl|dryrun"] {
				t.Error("ACL DRYRUN sent")
			}
			if n := r.admin.DBSize(ctx).Val(); n != 1 {
				t.Errorf("%d keys after the probe, want 1", n)
			}
			if !capsEqual(caps, tt.want) || len(caps.Unknown) > 0 {
				t.Fatalf("caps\n got %+v\nwant %+v", caps, tt.want)
			}
			wantRefused(t, r, tt.refused)
		})
	}
}

func capsEqual(a, b Caps) bool {
	if len(a.Denied) != len(b.Denied) {
		return false
	}
	for k, v := range a.Denied {
		if b.Denied[k] != v {
			return false
		}
	}
	a.Denied, b.Denied = nil, nil
	return a.Version == b.Version && a.Policy == b.Policy && a.NoTouch == b.NoTouch && a.LFU == b.LFU &&
		a.ReadOnly == b.ReadOnly && a.ReadOnlyReason == b.ReadOnlyReason && a.ACLChecked == b.ACLChecked
}

// TestNoTouchOn70 checks the Redis 7.0 side of NO-TOUCH: Probe does not
// send it (it would be an error reply the dashboard shows), asking anyway
// is a clean false, and the OnConnect hook lets connections open and says
// the server refused.
func TestNoTouchOn70(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, redisproc.Options{Unix: true})
	c := r.client(t, "", "")
	c.Ping(ctx)

	before, _ := r.admin.Info(ctx, "errorstats").Result()
	caps, err := Probe(ctx, c, "n", nil)
	if err != nil || caps.NoTouch {
		t.Fatalf("caps %+v err %v", caps, err)
	}
	after, _ := r.admin.Info(ctx, "errorstats").Result()
	if before != after {
		t.Fatalf("Probe caused error replies on 7.0:\n%s\n%s", before, after)
	}

	ledger := redisinfo.NewLedger()
	ok, err := tryNoTouch(ctx, c, "n", ledger)
	if ok || err != nil {
		t.Fatalf("7.0 accepted NO-TOUCH? ok %v err %v", ok, err)
	}
	if ledger.Get("n").TotalCalls() != 0 {
		t.Fatalf("a rejected command was booked: %+v", ledger.Get("n").Calls)
	}

	var refusals atomic.Int32
	o := r.target("", "").Options()
	EnableNoTouch(o, "n", ledger, func(error) { refusals.Add(1) })
	nt := redis.NewClient(o)
	defer nt.Close()
	if err := nt.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("a connection whose NO-TOUCH was refused did not open: %v", err)
	}
	if refusals.Load() != 1 {
		t.Fatalf("refused called %d times", refusals.Load())
	}
	// go-redis dials pipelines on a pool of their own: the hook runs there too.
	if _, err := nt.Pipelined(ctx, func(p redis.Pipeliner) error { return p.Get(ctx, "k").Err() }); err != nil {
		t.Fatal(err)
	}
	if refusals.Load() != 2 {
		t.Fatalf("refused called %d times after a pipeline", refusals.Load())
	}
}

func TestVersionAtLeast(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want bool
	}{
		{"7.2.0", true}, {"7.2.4", true}, {"7.10.1", true}, {"8.0.0", true},
		{"7.0.15", false}, {"6.2.14", false}, {"7", false}, {"", false}, {"x.y", false},
	} {
		if got := versionAtLeast(tt.v, 7, 2); got != tt.want {
			t.Errorf("versionAtLeast(%q, 7, 2) = %v", tt.v, got)
		}
	}
}

func TestCapsInspectOptions(t *testing.T) {
	if o := (Caps{LFU: true, NoTouch: true}).InspectOptions(); !o.LFU || !o.Lengths {
		t.Fatalf("%+v", o)
	}
	if o := (Caps{}).InspectOptions(); o.LFU || o.Lengths {
		t.Fatalf("%+v", o)
	}
}
