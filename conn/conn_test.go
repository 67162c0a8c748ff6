package conn_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"redtop/conn"
	"redtop/internal/redisproc"
)

// redisCLIWarning is the line redis-cli 6 and 7 print, byte for byte.
const redisCLIWarning = "Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe."

func TestPasswordWarningIsRedisCLIs(t *testing.T) {
	if conn.PasswordWarning != redisCLIWarning {
		t.Errorf("PasswordWarning = %q, redis-cli prints %q", conn.PasswordWarning, redisCLIWarning)
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		network  string
		addr     string
		db       int
		user     string
		password string
		tls      bool
	}{
		{name: "defaults", network: "tcp", addr: "127.0.0.1:6379"},
		{name: "host port db", args: []string{"-h", "redis.example", "-p", "7000", "-n", "3"},
			network: "tcp", addr: "redis.example:7000", db: 3},
		{name: "long flags", args: []string{"--host", "10.0.0.1", "--port", "7001", "--db", "1"},
			network: "tcp", addr: "10.0.0.1:7001", db: 1},
		{name: "ipv6 host", args: []string{"-h", "::1"}, network: "tcp", addr: "[::1]:6379"},
		{name: "socket", args: []string{"-s", "/run/redis/redis.sock", "-n", "2"},
			network: "unix", addr: "/run/redis/redis.sock", db: 2},
		{name: "socket beats host and port", args: []string{"-h", "elsewhere", "-p", "1", "-s", "/tmp/r.sock"},
			network: "unix", addr: "/tmp/r.sock"},
		{name: "tls flag", args: []string{"--tls", "-h", "localhost"}, network: "tcp", addr: "localhost:6379", tls: true},

		{name: "redis uri", args: []string{"-u", "redis://user:pass@cache.example:6380/3"},
			network: "tcp", addr: "cache.example:6380", db: 3, user: "user", password: "pass"},
		{name: "uri password only", args: []string{"-u", "redis://:pass@cache.example"},
			network: "tcp", addr: "cache.example:6379", password: "pass"},
		{name: "uri percent-encoded password", args: []string{"-u", "redis://:p%40ss%2Fw%3Fd%23@h:1"},
			network: "tcp", addr: "h:1", password: "p@ss/w?d#"},
		{name: "rediss uri", args: []string{"-u", "rediss://cache.example:6380"},
			network: "tcp", addr: "cache.example:6380", tls: true},
		{name: "unix uri", args: []string{"-u", "unix:///var/run/redis.sock?db=2"},
			network: "unix", addr: "/var/run/redis.sock", db: 2},
		{name: "unix uri with credentials", args: []string{"-u", "unix://mon:pw@/var/run/redis.sock"},
			network: "unix", addr: "/var/run/redis.sock", user: "mon", password: "pw"},

		{name: "port overrides uri", args: []string{"-u", "redis://a.example:1/3", "-p", "7000"},
			network: "tcp", addr: "a.example:7000", db: 3},
		{name: "flag before uri still overrides", args: []string{"-p", "7000", "-u", "redis://a.example:1/3"},
			network: "tcp", addr: "a.example:7000", db: 3},
		{name: "host overrides uri", args: []string{"-u", "redis://a.example:1", "-h", "b.example"},
			network: "tcp", addr: "b.example:1"},
		{name: "db overrides uri", args: []string{"-u", "redis://a.example:1/3", "-n", "0"},
			network: "tcp", addr: "a.example:1", db: 0},
		{name: "socket overrides uri", args: []string{"-u", "redis://a.example:1/3", "-s", "/tmp/r.sock"},
			network: "unix", addr: "/tmp/r.sock", db: 3},
		{name: "port overrides unix uri", args: []string{"-u", "unix:///tmp/r.sock", "-p", "7000"},
			network: "tcp", addr: "127.0.0.1:7000"},
		{name: "host overrides unix uri", args: []string{"-u", "unix:///tmp/r.sock", "-h", "b.example"},
			network: "tcp", addr: "b.example:6379"},
		{name: "user and pass override uri", args: []string{"-u", "redis://u1:p1@h:1", "--user", "u2", "-a", "p2"},
			network: "tcp", addr: "h:1", user: "u2", password: "p2"},
		{name: "tls flag upgrades redis uri", args: []string{"-u", "redis://h:1", "--tls"},
			network: "tcp", addr: "h:1", tls: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, _, err := resolve(t, tc.args, nil, nil)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got.Network != tc.network || got.Addr != tc.addr || got.DB != tc.db {
				t.Errorf("got %s %s db %d, want %s %s db %d", got.Network, got.Addr, got.DB, tc.network, tc.addr, tc.db)
			}
			if got.User != tc.user || got.Password != tc.password {
				t.Errorf("got user %q password %q, want %q %q", got.User, got.Password, tc.user, tc.password)
			}
			if (got.TLS != nil) != tc.tls {
				t.Errorf("TLS = %v, want %v", got.TLS != nil, tc.tls)
			}
			if got.Timeout != 2*time.Second {
				t.Errorf("Timeout = %v, want the 2s default", got.Timeout)
			}
			if strings.Contains(got.String(), "pass") || (got.Password != "" && strings.Contains(got.String(), got.Password)) {
				t.Errorf("String() = %q shows the password", got.String())
			}
		})
	}
}

func TestResolveTLSConfig(t *testing.T) {
	t.Parallel()
	pki := redisproc.PKIForTest(t, "resolve-ca")
	tests := []struct {
		name       string
		args       []string
		serverName string
		insecure   bool
		rootCAs    bool
	}{
		{name: "rediss host is the server name", args: []string{"-u", "rediss://cache.example:6380"}, serverName: "cache.example"},
		{name: "host flag renames rediss", args: []string{"-u", "rediss://a.example", "-h", "b.example"}, serverName: "b.example"},
		{name: "tls with ip", args: []string{"--tls"}, serverName: "127.0.0.1"},
		{name: "sni wins", args: []string{"--tls", "-h", "10.1.1.1", "--sni", "redis.internal"}, serverName: "redis.internal"},
		{name: "cacert turns tls on", args: []string{"--cacert", pki.CAFile, "-h", "localhost"}, serverName: "localhost", rootCAs: true},
		{name: "insecure", args: []string{"--tls", "--insecure"}, serverName: "127.0.0.1", insecure: true},
		{name: "skip_verify with insecure", args: []string{"-u", "rediss://h?skip_verify=true", "--insecure"}, serverName: "h", insecure: true},
		{name: "skip_verify=false is fine", args: []string{"-u", "rediss://h?skip_verify=false"}, serverName: "h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, _, err := resolve(t, tc.args, nil, nil)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got.TLS == nil {
				t.Fatal("no TLS config")
			}
			if got.TLS.ServerName != tc.serverName {
				t.Errorf("ServerName = %q, want %q", got.TLS.ServerName, tc.serverName)
			}
			if got.TLS.InsecureSkipVerify != tc.insecure {
				t.Errorf("InsecureSkipVerify = %v, want %v", got.TLS.InsecureSkipVerify, tc.insecure)
			}
			if (got.TLS.RootCAs != nil) != tc.rootCAs {
				t.Errorf("RootCAs set = %v, want %v", got.TLS.RootCAs != nil, tc.rootCAs)
			}
			if !strings.HasPrefix(got.String(), "tls:") {
				t.Errorf("String() = %q, want a tls: prefix", got.String())
			}
		})
	}
}

func TestResolvePasswordSources(t *testing.T) {
	t.Parallel()
	env := map[string]string{"REDISCLI_AUTH": "from-env"}
	askpass := func() (string, error) { return "from-prompt", nil }
	noAsk := func() (string, error) {
		t.Error("readPassword called without --askpass")
		return "", errors.New("not asked")
	}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		ask      func() (string, error)
		password string
		warnings int
	}{
		{name: "none", ask: noAsk},
		{name: "REDISCLI_AUTH", env: env, ask: noAsk, password: "from-env"},
		{name: "-a beats REDISCLI_AUTH", args: []string{"-a", "from-flag"}, env: env, ask: noAsk, password: "from-flag", warnings: 1},
		{name: "--pass", args: []string{"--pass", "from-flag"}, ask: noAsk, password: "from-flag", warnings: 1},
		{name: "uri beats REDISCLI_AUTH", args: []string{"-u", "redis://:from-uri@h"}, env: env, ask: noAsk, password: "from-uri", warnings: 1},
		{name: "-a beats uri, warned once", args: []string{"-u", "redis://:from-uri@h", "-a", "from-flag"}, ask: noAsk, password: "from-flag", warnings: 1},
		{name: "askpass", args: []string{"--askpass"}, ask: askpass, password: "from-prompt"},
		{name: "askpass beats REDISCLI_AUTH", args: []string{"--askpass"}, env: env, ask: askpass, password: "from-prompt"},
		{name: "askpass beats uri", args: []string{"--askpass", "-u", "redis://:from-uri@h"}, ask: askpass, password: "from-prompt", warnings: 1},
		{name: "user with REDISCLI_AUTH", args: []string{"--user", "mon"}, env: env, ask: noAsk, password: "from-env"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, warnings, err := resolve(t, tc.args, tc.env, tc.ask)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got.Password != tc.password {
				t.Errorf("password = %q, want %q", got.Password, tc.password)
			}
			if len(warnings) != tc.warnings {
				t.Fatalf("warnings = %q, want %d", warnings, tc.warnings)
			}
			for _, w := range warnings {
				if w != redisCLIWarning {
					t.Errorf("warning %q, want redis-cli's %q", w, redisCLIWarning)
				}
				if strings.Contains(w, "from-") {
					t.Errorf("warning %q carries the password", w)
				}
			}
		})
	}
}

func TestResolveAskpassFailures(t *testing.T) {
	t.Parallel()
	_, _, err := resolve(t, []string{"--askpass"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "--askpass") {
		t.Errorf("--askpass without a prompt: err = %v", err)
	}
	_, _, err = resolve(t, []string{"--askpass"}, nil, func() (string, error) { return "", errors.New("not a terminal") })
	if err == nil || !strings.Contains(err.Error(), "not a terminal") {
		t.Errorf("--askpass with a failing prompt: err = %v", err)
	}
}

func TestResolveWarnings(t *testing.T) {
	t.Parallel()
	_, warnings, err := resolve(t, []string{"--insecure"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "--insecure has no effect") {
		t.Errorf("--insecure without TLS: warnings = %q", warnings)
	}
	_, warnings, err = resolve(t, []string{"-u", "redis://h", "-h", "x"}, map[string]string{"REDISCLI_AUTH": "pw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("REDISCLI_AUTH is the safe way; warnings = %q", warnings)
	}
}

func TestResolveRefuses(t *testing.T) {
	t.Parallel()
	pki := redisproc.PKIForTest(t, "refuse-ca")
	cert, key := pki.ClientCertFile, pki.ClientKeyFile
	notPEM := writeFile(t, "not.pem", []byte("hello"))
	missing := filepath.Join(t.TempDir(), "missing-ca.crt")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "skip_verify without --insecure", args: []string{"-u", "rediss://:s3cret@h?skip_verify=true"},
			want: []string{"skip_verify", "--insecure"}},
		{name: "skip_verify=1 without --insecure", args: []string{"-u", "rediss://h?skip_verify=1"},
			want: []string{"skip_verify", "--insecure"}},
		{name: "user without password", args: []string{"--user", "mon"}, want: []string{"--user mon needs a password"}},
		{name: "uri user without password", args: []string{"-u", "redis://mon@h"}, want: []string{"mon needs a password"}},
		{name: "cert without key", args: []string{"--tls", "--cert", cert}, want: []string{"--cert and --key"}},
		{name: "key without cert", args: []string{"--tls", "--key", key}, want: []string{"--cert and --key"}},
		{name: "key without cert or tls", args: []string{"--key", key}, want: []string{"--cert and --key"}},
		{name: "missing cacert", args: []string{"--tls", "--cacert", missing}, want: []string{"--cacert", missing, "no such file"}},
		{name: "cacert not PEM", args: []string{"--tls", "--cacert", notPEM}, want: []string{"no PEM certificate"}},
		{name: "cert and key swapped", args: []string{"--tls", "--cert", key, "--key", cert}, want: []string{"--cert/--key"}},
		{name: "negative db", args: []string{"-n", "-1"}, want: []string{"invalid database number -1"}},
		{name: "unknown scheme", args: []string{"-u", "http://h"}, want: []string{"invalid URI", "scheme"}},
		{name: "bad db in path", args: []string{"-u", "redis://h/x"}, want: []string{"invalid URI", "database number"}},
		{name: "unknown option", args: []string{"-u", "redis://h?bogus=1"}, want: []string{"invalid URI", "bogus"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := resolve(t, tc.args, nil, nil)
			if err == nil {
				t.Fatalf("Resolve(%q) succeeded", tc.args)
			}
			wantContains(t, err.Error(), tc.want...)
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// A URI that does not parse is echoed back by url.Parse and go-redis; a
// password holding '/', '?' or '#' is read as a port or a path and quoted as
// such. None of that may reach the operator's screen or a log.
func TestResolveInvalidURINeverShowsPassword(t *testing.T) {
	t.Parallel()
	uris := []string{
		"redis://u:s3cret@[bad",
		"redis://u:s3cret@[::1",
		"redis://u:s3cret@host:port",
		"redis://u:s3cret@host:6379/notadb",
		"redis://u:s3cret@host/1/2",
		"redis://u:s3cret@host?bogus=1",
		"ftp://u:s3cret@host",
		"redis://:s3cret/x@host",     // '/' ends the authority: ":s3cret" becomes a port
		"redis://:s3/cret@host:6379", // "/cret@host:6379" becomes a path, a database number
		"redis://u:s3cret?@host",     // '?' ends the authority
		"redis://u:s3c#ret@host",     // '#' too
		"redis://u:s3%zzcret@host",   // a bad escape is quoted
		"redis://u:s3cret%@host",
		"unix://u:s3cret@",
		"rediss://u:s3cret@h:1?skip_verify=true",
	}
	for _, uri := range uris {
		t.Run(uri, func(t *testing.T) {
			t.Parallel()
			_, _, err := resolve(t, []string{"-u", uri}, nil, nil)
			if err == nil {
				t.Fatalf("Resolve accepted %q", uri)
			}
			for _, part := range []string{"s3cret", "s3c", ":s3", "cret", "s3/", "/cret", "zzc"} {
				if strings.Contains(err.Error(), part) {
					t.Errorf("error %q shows %q from the password", err, part)
				}
			}
			t.Log(err)
		})
	}
}

func TestTargetString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{nil, "127.0.0.1:6379"},
		{[]string{"-s", "/tmp/r.sock"}, "unix:/tmp/r.sock"},
		{[]string{"--tls", "-h", "h"}, "tls:h:6379"},
		{[]string{"-u", "rediss://mon:pw@h:1"}, "mon@tls:h:1"},
		{[]string{"-u", "redis://default:pw@h:1"}, "h:1"},
	}
	for _, tc := range tests {
		if got := mustResolve(t, tc.args...).String(); got != tc.want {
			t.Errorf("%q: String() = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	target := mustResolve(t, "--tls", "--user", "mon", "-a", "pw", "-n", "2", "--timeout", "750ms")
	o := target.Options()
	if o.ClientName != conn.ClientName || conn.ClientName != "redtop" {
		t.Errorf("ClientName = %q", o.ClientName)
	}
	if !o.DisableIdentity {
		t.Error("DisableIdentity is off: go-redis would send CLIENT SETINFO, an error on Redis 7.0")
	}
	if o.MaintNotificationsConfig == nil || o.MaintNotificationsConfig.Mode != maintnotifications.ModeDisabled {
		t.Error("maintenance notifications are not disabled")
	}
	if o.Username != "mon" || o.Password != "pw" || o.DB != 2 {
		t.Errorf("credentials/db: %q %q %d", o.Username, o.Password, o.DB)
	}
	for name, d := range map[string]time.Duration{"dial": o.DialTimeout, "read": o.ReadTimeout, "write": o.WriteTimeout} {
		if d != 750*time.Millisecond {
			t.Errorf("%s timeout = %v, want --timeout", name, d)
		}
	}
	if !o.ContextTimeoutEnabled {
		t.Error("ContextTimeoutEnabled off: cancelling a context would not stop a read")
	}
	if o.DialerRetries != 1 {
		t.Errorf("DialerRetries = %d: go-redis would dial up to 5 times per attempt, far past --timeout", o.DialerRetries)
	}
	if o.TLSConfig == nil || o.TLSConfig == target.TLS {
		t.Error("TLS config must be a copy, so go-redis cannot change the target's")
	}

	w := target.WriterOptions()
	if w.MaxRetries != -1 {
		t.Errorf("writer MaxRetries = %d, want -1 (a timed-out write must not be sent twice)", w.MaxRetries)
	}
	if o.MaxRetries == -1 {
		t.Error("WriterOptions changed the reader's options")
	}
	if !w.DisableIdentity || w.ClientName != conn.ClientName {
		t.Error("writer lost the handshake settings")
	}
}

func TestResolveDoesNotTouchProcessEnv(t *testing.T) {
	// Resolve must read the environment only through getenv.
	t.Setenv("REDISCLI_AUTH", "process-env")
	got, _, err := resolve(t, nil, map[string]string{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Password != "" {
		t.Errorf("password %q came from the process environment", got.Password)
	}
	if v := os.Getenv("REDISCLI_AUTH"); v != "process-env" {
		t.Errorf("REDISCLI_AUTH changed to %q", v)
	}
}

func TestOnlyBooks(t *testing.T) {
	if !conn.OnlyBooks(conn.Target{}.Options()) {
		t.Error("no hook: a raw connection may be used")
	}
	booked := conn.Target{Handshake: func(string, int) {}}.Options()
	if !conn.OnlyBooks(booked) {
		t.Error("the booking hook is taken for another")
	}
	booked.OnConnect = func(context.Context, *redis.Conn) error { return nil }
	if conn.OnlyBooks(booked) {
		t.Error("another hook is taken for the booking one")
	}
}
