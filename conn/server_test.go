package conn_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
	"redtop/internal/redisproc"
)

// A dashboard shows the server's error counters: redtop's own connections
// must not add to them. go-redis by default sends CLIENT SETINFO (twice) and
// CLIENT MAINT_NOTIFICATIONS on each new connection, which Redis 7.0 rejects.
func TestHandshakeLeavesNoErrors(t *testing.T) {
	t.Parallel()
	s := redisproc.ForTest(t, redisproc.Options{Args: []string{"--requirepass", serverPassword}})
	target, _, err := resolve(t, serverArgs(s, "-a", serverPassword, "-n", "1"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// redisproc's readiness probe is a bare PING, which a server with a
	// password answers with -NOAUTH: clear that count first.
	if err := newClient(t, target).ConfigResetStat(ctx(t)).Err(); err != nil {
		t.Fatal(err)
	}
	// Several clients, several connections each, both kinds of options.
	for _, opts := range []*redis.Options{target.Options(), target.Options(), target.WriterOptions()} {
		c := redis.NewClient(opts)
		for range 3 {
			if err := c.Ping(ctx(t)).Err(); err != nil {
				t.Fatalf("PING: %v", conn.Explain(err, target))
			}
		}
		// A second connection from the same pool, held while the first works.
		held, err := c.Conn().Ping(ctx(t)).Result()
		if err != nil || held != "PONG" {
			t.Fatalf("PING on a second connection: %v %v", held, err)
		}
		c.Close()
	}

	c := newClient(t, target)
	list, err := c.ClientList(ctx(t)).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		if !strings.Contains(line, " name="+conn.ClientName+" ") {
			t.Errorf("connection not named %q: %s", conn.ClientName, line)
		}
		if !strings.Contains(line, " db=1 ") {
			t.Errorf("connection not on db 1: %s", line)
		}
	}

	stats := info(t, c, "errorstats")
	if fields := infoFields(stats); len(fields) != 0 {
		t.Errorf("INFO errorstats after redtop's handshakes: %v", fields)
	}
	if v := infoFields(info(t, c, "stats"))["total_error_replies"]; v != "0" {
		t.Errorf("total_error_replies = %s, want 0", v)
	}
	cmds := infoFields(info(t, c, "commandstats"))
	for name := range cmds {
		if strings.HasPrefix(name, "cmdstat_client|setinfo") || strings.HasPrefix(name, "cmdstat_client|maint") {
			t.Errorf("go-redis sent %s: %s", name, cmds[name])
		}
		if strings.Contains(cmds[name], "failed_calls=") && !strings.Contains(cmds[name], "failed_calls=0") {
			t.Errorf("%s has failed calls: %s", name, cmds[name])
		}
	}
	if _, ok := cmds["cmdstat_hello"]; !ok {
		t.Logf("no HELLO in commandstats: %v", cmds)
	}
}

func info(t *testing.T, c *redis.Client, section string) string {
	t.Helper()
	s, err := c.Info(ctx(t), section).Result()
	if err != nil {
		t.Fatalf("INFO %s: %v", section, err)
	}
	return s
}

func infoFields(s string) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(s) {
		line = strings.TrimRight(line, "\r\n")
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m
}

// A server that dies and comes back on the same address: the same client
// reports the outage in one clear line while it lasts and recovers by
// itself, with its name and database restored on the new connections.
func TestServerRestart(t *testing.T) {
	t.Parallel()
	for _, unix := range []bool{false, true} {
		name := "tcp"
		if unix {
			name = "unix"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := redisproc.ForTest(t, redisproc.Options{Unix: unix})
			target := mustResolve(t, serverArgs(s, "-n", "2")...)
			c := newClient(t, target)
			if err := c.Set(ctx(t), "before", "1", 0).Err(); err != nil {
				t.Fatalf("SET: %v", conn.Explain(err, target))
			}

			s.Kill()
			for range 3 { // the pooled connection, then fresh dials, then the pool's dial breaker
				msg := explain(t, c.Ping(ctx(t)).Err(), target)
				if !strings.Contains(msg, "connection refused") && !strings.Contains(msg, "closed the connection") {
					t.Errorf("while down: %q, want connection refused or closed", msg)
				}
				wantContains(t, msg, target.String())
			}

			if err := s.Restart(ctx(t)); err != nil {
				t.Fatalf("restart: %v", err)
			}
			// go-redis stops dialling after PoolSize failed dials and probes
			// once a second in the background: poll until it is back.
			if err := eventually(ctx(t), func() error { return c.Ping(ctx(t)).Err() }); err != nil {
				t.Fatalf("the client did not come back: %v", conn.Explain(err, target))
			}
			// Nothing persists, so the key is gone; the new connection is on
			// db 2 and named.
			if n, err := c.Exists(ctx(t), "before").Result(); err != nil || n != 0 {
				t.Errorf("EXISTS before = %d, %v; want 0 on a fresh server", n, err)
			}
			if err := c.Set(ctx(t), "after", "1", 0).Err(); err != nil {
				t.Fatal(err)
			}
			ks := infoFields(info(t, c, "keyspace"))
			if !strings.HasPrefix(ks["db2"], "keys=1,") {
				t.Errorf("keyspace after restart: %v, want the key in db2", ks)
			}
			name, err := c.ClientGetName(ctx(t)).Result()
			if err != nil || name != conn.ClientName {
				t.Errorf("CLIENT GETNAME = %q, %v", name, err)
			}
		})
	}
}

// eventually retries f until it succeeds or ctx ends; it asserts nothing
// about how long that takes.
func eventually(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}
