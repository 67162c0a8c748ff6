package conn_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"redtop/conn"
	"redtop/internal/redisproc"
)

const (
	serverPassword = "s3rver-pw-7f3a"
	wrongPassword  = "wr0ng-guess-91c2"
)

func TestExplainNil(t *testing.T) {
	if err := conn.Explain(nil, conn.Target{}); err != nil {
		t.Errorf("Explain(nil) = %v", err)
	}
}

// Servers that ask for a password, over TCP and over a unix socket.
func TestExplainAuth(t *testing.T) {
	t.Parallel()
	for _, unix := range []bool{false, true} {
		name := "tcp"
		if unix {
			name = "unix"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := redisproc.ForTest(t, redisproc.Options{Unix: unix, Args: []string{"--requirepass", serverPassword}})

			t.Run("right password", func(t *testing.T) {
				t.Parallel()
				target, _, err := resolve(t, serverArgs(s, "-a", serverPassword), nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := newClient(t, target).Ping(ctx(t)).Err(); err != nil {
					t.Fatalf("PING: %v", conn.Explain(err, target))
				}
			})
			t.Run("REDISCLI_AUTH", func(t *testing.T) {
				t.Parallel()
				target, _, err := resolve(t, serverArgs(s), map[string]string{"REDISCLI_AUTH": serverPassword}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := newClient(t, target).Ping(ctx(t)).Err(); err != nil {
					t.Fatalf("PING: %v", conn.Explain(err, target))
				}
			})
			t.Run("wrong password", func(t *testing.T) {
				t.Parallel()
				target, _, err := resolve(t, serverArgs(s, "-a", wrongPassword), nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				msg := explain(t, newClient(t, target).Ping(ctx(t)).Err(), target)
				wantContains(t, msg, "authentication failed", `user "default"`, target.String())
			})
			// PubSub connections (and cluster nodes) hand back the
			// handshake error wrapped: "failed to authenticate: WRONGPASS …".
			t.Run("wrong password on a pubsub connection", func(t *testing.T) {
				t.Parallel()
				target, _, err := resolve(t, serverArgs(s, "-a", wrongPassword), nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				ps := newClient(t, target).Subscribe(ctx(t), "redtop-test")
				defer ps.Close()
				_, err = ps.Receive(ctx(t))
				msg := explain(t, err, target)
				wantContains(t, msg, "authentication failed", `user "default"`)
			})
			t.Run("no password on a pubsub connection", func(t *testing.T) {
				t.Parallel()
				target := mustResolve(t, serverArgs(s)...)
				ps := newClient(t, target).Subscribe(ctx(t), "redtop-test")
				defer ps.Close()
				_, err := ps.Receive(ctx(t))
				msg := explain(t, err, target)
				wantContains(t, msg, "requires a password")
			})
			t.Run("wrong password from askpass", func(t *testing.T) {
				t.Parallel()
				target, _, err := resolve(t, serverArgs(s, "--askpass"), nil, func() (string, error) { return wrongPassword, nil })
				if err != nil {
					t.Fatal(err)
				}
				msg := explain(t, newClient(t, target).Ping(ctx(t)).Err(), target)
				wantContains(t, msg, "authentication failed")
			})
			t.Run("no password", func(t *testing.T) {
				t.Parallel()
				target := mustResolve(t, serverArgs(s)...)
				msg := explain(t, newClient(t, target).Ping(ctx(t)).Err(), target)
				wantContains(t, msg, "requires a password", "--askpass")
			})
		})
	}
}

// go-redis authenticates with HELLO 2 AUTH default <password>, and a server
// without requirepass has a nopass default user that accepts any password:
// a needless password connects. Only a plain AUTH <password>, as redis-cli
// sends it, draws the "without any password configured" error.
func TestExplainPasswordNotNeeded(t *testing.T) {
	t.Parallel()
	s := redisproc.ForTest(t, redisproc.Options{Unix: true})
	target, _, err := resolve(t, serverArgs(s, "-a", wrongPassword), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, target)
	if err := c.Ping(ctx(t)).Err(); err != nil {
		t.Fatalf("PING with a needless password: %v", conn.Explain(err, target))
	}
	msg := explain(t, c.Do(ctx(t), "AUTH", target.Password).Err(), target)
	wantContains(t, msg, "has no password set", "drop -a")
}

func TestExplainACLUser(t *testing.T) {
	t.Parallel()
	s := redisproc.ForTest(t, redisproc.Options{Args: []string{"--requirepass", serverPassword}})
	admin, _, err := resolve(t, serverArgs(s, "-a", serverPassword), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := newClient(t, admin).Do(ctx(t), "ACL", "SETUSER", "mon", "on", ">mon-pw-55e1", "+@read", "+@connection", "+info").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}

	t.Run("connects", func(t *testing.T) {
		t.Parallel()
		target, _, err := resolve(t, serverArgs(s, "--user", "mon", "--pass", "mon-pw-55e1"), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, target)
		if err := c.Ping(ctx(t)).Err(); err != nil {
			t.Fatalf("PING as mon: %v", conn.Explain(err, target))
		}
		info, err := c.Info(ctx(t), "server").Result()
		if err != nil {
			t.Fatalf("INFO as mon: %v", conn.Explain(err, target))
		}
		if !strings.Contains(info, "redis_version:") {
			t.Errorf("INFO reply: %.80q", info)
		}
		who, err := c.Do(ctx(t), "ACL", "WHOAMI").Text()
		if err == nil && who != "mon" {
			t.Errorf("ACL WHOAMI = %q", who)
		}
		msg := explain(t, c.ConfigGet(ctx(t), "maxmemory").Err(), target)
		wantContains(t, msg, "permission denied", "mon@")
	})
	t.Run("from the uri", func(t *testing.T) {
		t.Parallel()
		target := mustResolve(t, "-u", "redis://mon:mon-pw-55e1@"+s.Addr())
		if err := newClient(t, target).Ping(ctx(t)).Err(); err != nil {
			t.Fatalf("PING as mon: %v", conn.Explain(err, target))
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		target, _, err := resolve(t, serverArgs(s, "--user", "mon", "--pass", wrongPassword), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		msg := explain(t, newClient(t, target).Ping(ctx(t)).Err(), target)
		wantContains(t, msg, "authentication failed", `user "mon"`)
	})
	t.Run("unknown user", func(t *testing.T) {
		t.Parallel()
		target, _, err := resolve(t, serverArgs(s, "--user", "nobody", "--pass", serverPassword), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		msg := explain(t, newClient(t, target).Ping(ctx(t)).Err(), target)
		wantContains(t, msg, "authentication failed", `user "nobody"`)
	})
}

func TestExplainNoSuchDB(t *testing.T) {
	t.Parallel()
	s := redisproc.ForTest(t, redisproc.Options{Unix: true, Args: []string{"--databases", "4"}})
	target := mustResolve(t, serverArgs(s, "-n", "9")...)
	msg := explain(t, newClient(t, target).Ping(ctx(t)).Err(), target)
	wantContains(t, msg, "has no database 9")

	target = mustResolve(t, serverArgs(s, "-n", "3")...)
	if err := newClient(t, target).Ping(ctx(t)).Err(); err != nil {
		t.Fatalf("db 3 of 4: %v", conn.Explain(err, target))
	}
}

func TestExplainRefused(t *testing.T) {
	t.Parallel()
	target := mustResolve(t, "-p", strconv.Itoa(redisproc.FreePort(t)))
	msg := explain(t, newClient(t, target).Ping(ctx(t)).Err(), target)
	wantContains(t, msg, "connection refused", target.Addr, "--demo")
}

func TestExplainNoSocket(t *testing.T) {
	t.Parallel()
	target := mustResolve(t, "-s", filepath.Join(t.TempDir(), "nothing.sock"))
	msg := explain(t, newClient(t, target).Ping(ctx(t)).Err(), target)
	wantContains(t, msg, "no such socket", "unix:"+target.Addr, "--demo")
}

func TestExplainUnknownHost(t *testing.T) {
	t.Parallel()
	// .invalid never resolves (RFC 6761). Without a network the resolver
	// should still answer at once; if lookups hang here, skip rather than
	// test a timeout.
	const host = "nohost.invalid"
	probe, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := net.DefaultResolver.LookupHost(probe, host); errors.Is(err, context.DeadlineExceeded) || probe.Err() != nil {
		t.Skipf("DNS lookups hang on this machine (%v): cannot check the unknown-host message", err)
	}
	target := mustResolve(t, "-h", host)
	msg := explain(t, newClient(t, target).Ping(ctx(t)).Err(), target)
	wantContains(t, msg, "unknown host", host)
}

// A listener that accepts and never answers: the deadline must end the wait
// and Explain must say so.
func TestExplainTimeout(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	target := mustResolve(t, "-p", strconv.Itoa(l.Addr().(*net.TCPAddr).Port), "--timeout", "100ms")
	msg := explain(t, newClient(t, target).Ping(ctx(t)).Err(), target)
	wantContains(t, msg, "timed out", target.Addr, "100ms")
}

// Explain must keep the password out even when a caller's error carries it.
func TestExplainOwnWordsOnly(t *testing.T) {
	target := conn.Target{Network: "tcp", Addr: "h:1", User: "mon", Password: "pw-in-target"}
	for _, err := range []error{
		errors.New("WRONGPASS invalid username-password pair or user is disabled."),
		errors.New("NOAUTH Authentication required."),
	} {
		if msg := conn.Explain(err, target).Error(); strings.Contains(msg, target.Password) {
			t.Errorf("Explain(%v) = %q", err, msg)
		}
	}
}
