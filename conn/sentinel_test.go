package conn_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"redtop/conn"
	"redtop/internal/redisproc"
)

func TestResolveSentinelFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		addrs  []string
		user   string
		pass   string
		warned bool
		str    string
	}{
		{name: "one", args: []string{"--sentinel", "127.0.0.1:26379", "--master", "mymaster"},
			addrs: []string{"127.0.0.1:26379"}, str: "mymaster via sentinel 127.0.0.1:26379"},
		{name: "repeated and comma-separated, duplicates once", args: []string{"--sentinel", "a:1,b:2", "--sentinel", "c:3", "--sentinel", "a:1", "--master", "m"},
			addrs: []string{"a:1", "b:2", "c:3"}, str: "m via sentinels a:1,b:2,c:3"},
		{name: "bare host gets 26379", args: []string{"--sentinel", "sentinel.example", "--master", "m"}, addrs: []string{"sentinel.example:26379"}},
		{name: "ipv6", args: []string{"--sentinel", "[::1]:26380", "--master", "m"}, addrs: []string{"[::1]:26380"}},
		{name: "sentinel password from the environment", args: []string{"--sentinel", "a:1", "--master", "m", "--sentinel-user", "mon"},
			env: map[string]string{conn.SentinelAuthEnv: "s-env-pw", "REDISCLI_AUTH": "master-pw"}, addrs: []string{"a:1"}, user: "mon", pass: "s-env-pw"},
		{name: "sentinel password on the command line is warned about", args: []string{"--sentinel", "a:1", "--master", "m", "--sentinel-pass", "s-flag-pw"},
			addrs: []string{"a:1"}, pass: "s-flag-pw", warned: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, warnings, err := resolve(t, tc.args, tc.env, nil)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			s := got.Sentinel
			if s == nil {
				t.Fatal("no Sentinel in the target")
			}
			if strings.Join(s.Addrs, " ") != strings.Join(tc.addrs, " ") || s.User != tc.user || s.Password != tc.pass {
				t.Errorf("got %q user %q pass %q, want %q %q %q", s.Addrs, s.User, s.Password, tc.addrs, tc.user, tc.pass)
			}
			if got.Addr != "" || got.Network != "tcp" {
				t.Errorf("the master is not located yet, got %s %q", got.Network, got.Addr)
			}
			if (len(warnings) > 0) != tc.warned {
				t.Errorf("warnings %q", warnings)
			}
			if tc.str != "" && got.String() != tc.str {
				t.Errorf("String() = %q, want %q", got.String(), tc.str)
			}
			if tc.env["REDISCLI_AUTH"] != "" && got.Password != tc.env["REDISCLI_AUTH"] {
				t.Errorf("the master's password is %q, want REDISCLI_AUTH's", got.Password)
			}
			for _, pw := range []string{"pw", "pass"} {
				if strings.Contains(got.String(), pw) {
					t.Errorf("String() = %q shows a password", got.String())
				}
			}
			st := got.SentinelTarget(s.Addrs[0])
			if st.Addr != s.Addrs[0] || st.User != s.User || st.Password != s.Password || st.DB != 0 || st.Sentinel != nil {
				t.Errorf("SentinelTarget = %+v", st)
			}
		})
	}

	located := mustResolve(t, "--sentinel", "127.0.0.1:26379", "--master", "mymaster", "-n", "2").WithAddr("127.0.0.1:6380")
	if got, want := located.String(), "mymaster via sentinel 127.0.0.1:26379 (master 127.0.0.1:6380)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if o := located.Options(); o.Addr != "127.0.0.1:6380" || o.DB != 2 {
		t.Errorf("master options %s db %d", o.Addr, o.DB)
	}
}

func TestResolveSentinelRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"master without sentinel", []string{"--master", "m"}, "--master goes with --sentinel"},
		{"sentinel without master", []string{"--sentinel", "a:1"}, "--sentinel needs --master NAME"},
		{"sentinel with cluster", []string{"--sentinel", "a:1", "--master", "m", "-c"}, "do not go together"},
		{"sentinel with a port", []string{"--sentinel", "a:1", "--master", "m", "-p", "6380"}, "drop -h, -p, -s and -u"},
		{"sentinel with a uri", []string{"--sentinel", "a:1", "--master", "m", "-u", "redis://h:1"}, "drop -h, -p, -s and -u"},
		{"sentinel with a socket", []string{"--sentinel", "a:1", "--master", "m", "-s", "/tmp/r.sock"}, "drop -h, -p, -s and -u"},
		{"bad port", []string{"--sentinel", "a:port", "--master", "m"}, `--sentinel "a:port": want HOST:PORT`},
		{"port out of range", []string{"--sentinel", "a:70000", "--master", "m"}, "want HOST:PORT"},
		{"sentinel user without password", []string{"--sentinel", "a:1", "--master", "m", "--sentinel-user", "mon"}, "needs a password"},
		{"sentinel password without sentinel", []string{"--sentinel-pass", "x"}, "go with --sentinel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := resolve(t, tc.args, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line with %q", err, tc.want)
			}
		})
	}
}

// TLS settings apply to the sentinels too; the certificate is checked
// against the name dialled, since -h names nothing with --sentinel.
func TestResolveSentinelTLS(t *testing.T) {
	t.Parallel()
	got := mustResolve(t, "--sentinel", "a:1", "--master", "m", "--tls", "--insecure")
	if got.TLS == nil || got.TLS.ServerName != "" {
		t.Fatalf("TLS %+v, want one that checks the name dialled", got.TLS)
	}
	if st := got.SentinelTarget("a:1"); st.TLS != got.TLS || !strings.HasPrefix(st.String(), "tls:") {
		t.Errorf("the sentinel's target has no TLS: %+v", st)
	}
	if sni := mustResolve(t, "--sentinel", "a:1", "--master", "m", "--tls", "--sni", "redis.internal"); sni.TLS.ServerName != "redis.internal" {
		t.Errorf("--sni lost: %q", sni.TLS.ServerName)
	}
}

func TestLocateMaster(t *testing.T) {
	t.Parallel()
	set := redisproc.SentinelSetForTest(t, 1)
	sentinel := set.Sentinel.Addr()
	free := "127.0.0.1:" + strconv.Itoa(redisproc.FreePort(t))

	locate := func(t *testing.T, args ...string) (conn.Target, error) {
		t.Helper()
		target := mustResolve(t, append(args, "--timeout", "500ms")...)
		return conn.LocateMaster(ctx(t), target)
	}
	t.Run("found", func(t *testing.T) {
		got, err := locate(t, "--sentinel", sentinel, "--master", "mymaster")
		if err != nil {
			t.Fatal(err)
		}
		if got.Addr != set.Master.Addr() {
			t.Fatalf("located %s, want %s", got.Addr, set.Master.Addr())
		}
		wantContains(t, got.String(), "mymaster via sentinel "+sentinel, "(master "+set.Master.Addr()+")")
		if err := newClient(t, got).Set(ctx(t), "k", "v", 0).Err(); err != nil {
			t.Fatalf("the master takes no write: %v", err)
		}
	})
	t.Run("first sentinel down, the next answers", func(t *testing.T) {
		got, err := locate(t, "--sentinel", free+","+sentinel, "--master", "mymaster")
		if err != nil || got.Addr != set.Master.Addr() {
			t.Fatalf("located %q: %v", got.Addr, err)
		}
	})

	refusals := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown name", []string{"--sentinel", sentinel, "--master", "nosuch"},
			[]string{`no master named "nosuch" at sentinel ` + sentinel, `(it monitors "mymaster")`}},
		{"unreachable", []string{"--sentinel", free, "--master", "mymaster"},
			[]string{`no sentinel could locate master "mymaster"`, "sentinel " + free + ": connection refused"}},
		{"not a sentinel", []string{"--sentinel", set.Master.Addr(), "--master", "mymaster"},
			[]string{set.Master.Addr() + " is not a Sentinel", "26379"}},
		{"unknown here, unreachable there", []string{"--sentinel", sentinel + "," + free, "--master", "nosuch"},
			[]string{"connection refused", sentinel + `: no master named "nosuch"`}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			_, err := locate(t, tc.args...)
			if err == nil {
				t.Fatal("located a master")
			}
			t.Log(err)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("more than one line: %q", err)
			}
			wantContains(t, err.Error(), tc.want...)
		})
	}

	// A sentinel that monitors a replica as "master": the role check says so.
	t.Run("named server is a replica", func(t *testing.T) {
		wrong := redisproc.SentinelForTest(t, "wrong", set.Replicas[0].Addr(), 1, redisproc.SentinelOptions{})
		_, err := locate(t, "--sentinel", wrong.Addr(), "--master", "wrong")
		if err == nil {
			t.Fatal("a replica passed for a master")
		}
		t.Log(err)
		wantContains(t, err.Error(), "names "+set.Replicas[0].Addr()+` as master "wrong"`, "replica of "+set.Master.Addr())
	})
}

// A master the sentinel sees down is refused with the sentinel's flags.
func TestLocateMasterDown(t *testing.T) {
	t.Parallel()
	set := redisproc.SentinelSetForTest(t, 0)
	set.Master.Kill()
	target := mustResolve(t, "--sentinel", set.Sentinel.Addr(), "--master", "mymaster", "--timeout", "500ms")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := conn.LocateMaster(ctx(t), target)
		if err != nil && strings.Contains(err.Error(), "is down") {
			t.Log(err)
			wantContains(t, err.Error(), `says master "mymaster" (`+set.Master.Addr()+") is down (", "s_down", "try again")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestLocateMasterSentinelAuth(t *testing.T) {
	t.Parallel()
	master := redisproc.ForTest(t, redisproc.Options{})
	s := redisproc.SentinelForTest(t, "mymaster", master.Addr(), 1, redisproc.SentinelOptions{Password: "s3ntinel-pw"})
	args := []string{"--sentinel", s.Addr(), "--master", "mymaster", "--timeout", "500ms"}

	_, err := conn.LocateMaster(ctx(t), mustResolve(t, args...))
	if err == nil {
		t.Fatal("located without the sentinel's password")
	}
	wantContains(t, err.Error(), "sentinel "+s.Addr()+" requires a password", conn.SentinelAuthEnv)

	target, _, err := resolve(t, args, map[string]string{conn.SentinelAuthEnv: "wrong-pw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.LocateMaster(ctx(t), target)
	if err == nil || strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("wrong password: %v", err)
	}
	t.Log(err)
	wantContains(t, err.Error(), "authentication failed", "--sentinel-pass")

	target, _, err = resolve(t, args, map[string]string{conn.SentinelAuthEnv: "s3ntinel-pw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := conn.LocateMaster(ctx(t), target); err != nil || got.Addr != master.Addr() {
		t.Fatalf("located %q: %v", got.Addr, err)
	}
}

// With --tls, redtop talks TLS to the sentinel and to the master it names.
func TestLocateMasterOverTLS(t *testing.T) {
	t.Parallel()
	pki := redisproc.PKIForTest(t, "sentinel-tls")
	master := redisproc.ForTest(t, redisproc.Options{TLS: pki.ServerTLS("no")})
	s := redisproc.SentinelForTest(t, "mymaster", master.Addr(), 1, redisproc.SentinelOptions{TLS: pki.ServerTLS("no")})
	target := mustResolve(t, "--tls", "--cacert", pki.CAFile, "--sentinel", s.Addr(), "--master", "mymaster")
	got, err := conn.LocateMaster(ctx(t), target)
	if err != nil {
		t.Fatal(err)
	}
	if got.Addr != master.Addr() {
		t.Fatalf("located %s, want %s", got.Addr, master.Addr())
	}
	if err := newClient(t, got).Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING the master over TLS: %v", conn.Explain(err, got))
	}
	// Without --tls the sentinel's TLS port is no Sentinel to talk to.
	_, err = conn.LocateMaster(ctx(t), mustResolve(t, "--sentinel", s.Addr(), "--master", "mymaster", "--timeout", "500ms"))
	if err == nil {
		t.Fatal("located through a TLS sentinel without --tls")
	}
	t.Log(err)
}
