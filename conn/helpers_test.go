package conn_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"redtop/conn"
	"redtop/internal/redisproc"
)

// resolve parses args the way main does (Bind, then Parse) and resolves them
// with env standing in for the environment.
func resolve(t *testing.T, args []string, env map[string]string, askpass func() (string, error)) (conn.Target, []string, error) {
	t.Helper()
	var c conn.Config
	fs := pflag.NewFlagSet("redtop", pflag.ContinueOnError)
	c.Bind(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	getenv := func(k string) string { return env[k] }
	return c.Resolve(getenv, askpass)
}

func mustResolve(t *testing.T, args ...string) conn.Target {
	t.Helper()
	target, _, err := resolve(t, args, nil, nil)
	if err != nil {
		t.Fatalf("resolve %q: %v", args, err)
	}
	return target
}

// serverArgs are the flags that point redtop at s, then extra.
func serverArgs(s *redisproc.Server, extra ...string) []string {
	args := []string{"-p", strconv.Itoa(s.Port)}
	if s.Network() == "unix" {
		args = []string{"-s", s.Socket}
	}
	return append(args, extra...)
}

// newClient builds a client exactly as redtop does, from Target.Options.
func newClient(t *testing.T, target conn.Target) *redis.Client {
	t.Helper()
	c := redis.NewClient(target.Options())
	t.Cleanup(func() { c.Close() })
	return c
}

// ctx bounds a test's Redis calls so a broken setup fails instead of hanging.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// explain runs conn.Explain and checks what every message must be: one line,
// without the password.
func explain(t *testing.T, err error, target conn.Target) string {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error talking to %s, got none", target)
	}
	e := conn.Explain(err, target)
	if e == nil {
		t.Fatalf("Explain(%v) = nil", err)
	}
	msg := e.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("Explain gave more than one line: %q", msg)
	}
	if target.Password != "" && strings.Contains(msg, target.Password) {
		t.Errorf("Explain leaks the password: %q", msg)
	}
	t.Logf("raw: %v\nexplained: %s", err, msg)
	return msg
}

func wantContains(t *testing.T, msg string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(msg, s) {
			t.Errorf("message %q does not contain %q", msg, s)
		}
	}
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
