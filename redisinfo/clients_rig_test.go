package redisinfo

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/internal/redisproc"
)

// actRig is a private redis-server for the clients, slow log, latency and
// permission tests, with an admin client that plays the application (its
// traffic is not redtop's).
type actRig struct {
	srv   *redisproc.Server
	admin *redis.Client
}

func newActRig(t testing.TB, args ...string) *actRig {
	t.Helper()
	r := &actRig{srv: redisproc.ForTest(t, redisproc.Options{Args: args})}
	o := r.target("", "").Options()
	o.ClientName = "test-admin"
	r.admin = redis.NewClient(o)
	t.Cleanup(func() { r.admin.Close() })
	return r
}

func (r *actRig) target(user, pass string) conn.Target {
	return conn.Target{Network: r.srv.Network(), Addr: r.srv.Addr(), User: user, Password: pass, Timeout: 2 * time.Second}
}

// client is a reading client built like redtop's (named "redtop").
func (r *actRig) client(t testing.TB, user string) *redis.Client {
	t.Helper()
	pass := ""
	if user != "" {
		pass = "pw"
	}
	c := redis.NewClient(r.target(user, pass).Options())
	t.Cleanup(func() { c.Close() })
	return c
}

// writer is a writing client built like redtop's: retries off.
func (r *actRig) writer(t testing.TB, user string) *redis.Client {
	t.Helper()
	pass := ""
	if user != "" {
		pass = "pw"
	}
	c := redis.NewClient(r.target(user, pass).WriterOptions())
	t.Cleanup(func() { c.Close() })
	return c
}

// warmUp opens c's connections before a counted window: each new one
// sends HELLO and CLIENT SETNAME.
func warmUp(t testing.TB, c *redis.Client) {
	t.Helper()
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error { return p.Ping(ctx).Err() }); err != nil {
		t.Fatal(err)
	}
}

func (r *actRig) do(t testing.TB, args ...any) any {
	t.Helper()
	v, err := r.admin.Do(context.Background(), args...).Result()
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

// addUser creates an ACL user with password "pw".
func (r *actRig) addUser(t testing.TB, name string, rules ...string) {
	t.Helper()
	args := []any{"acl", "setuser", name, "reset", "on", ">pw"}
	for _, rule := range rules {
		args = append(args, rule)
	}
	r.do(t, args...)
}

// actCounts is what the server counted, from INFO stats and commandstats.
type actCounts struct {
	total, netIn, netOut int64
	calls                map[string]int64
	errors               int64
	infoReply            int // bytes of this INFO's reply, counted in the next one
}

func (r *actRig) counts(t testing.TB) actCounts {
	t.Helper()
	text, err := r.admin.Info(context.Background(), "stats", "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	in := Parse(text)
	c := actCounts{
		total: in.Int("total_commands_processed"), netIn: in.Int("total_net_input_bytes"),
		netOut: in.Int("total_net_output_bytes"), errors: in.Int("total_error_replies"),
		calls: map[string]int64{}, infoReply: wireBulk(len(text)),
	}
	for name, st := range in.Commands {
		c.calls[name] = st.Calls
	}
	return c
}

// infoArgs is what counts sends.
var infoArgs = []string{"info", "stats", "commandstats"}

// checkBooked compares what the server counted between before and after
// with what redtop booked: each command's calls and the commands
// processed, exactly; and bytes in and out, exactly when exactBytes. The
// rig's INFO (the one that read before) is the only other command.
func checkBooked(t *testing.T, before, after actCounts, own Own, exactBytes bool) {
	t.Helper()
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
	if !exactBytes {
		return
	}
	if d := after.netIn - before.netIn - int64(respLen(infoArgs)); d != own.NetIn {
		t.Errorf("server read %d bytes from redtop; redtop booked %d", d, own.NetIn)
	}
	if d := after.netOut - before.netOut - int64(before.infoReply); d != own.NetOut {
		t.Errorf("server sent %d bytes to redtop; redtop booked %d", d, own.NetOut)
	}
}

// aclLog is the server's ACL LOG as object → count (entries of the same
// user, reason and object within 60 s are one entry with a count).
func (r *actRig) aclLog(t testing.TB) map[string]int64 {
	t.Helper()
	v := r.do(t, "acl", "log").([]any)
	m := map[string]int64{}
	for _, e := range v {
		f := e.([]any)
		var obj string
		var n int64
		for i := 0; i+1 < len(f); i += 2 {
			switch f[i] {
			case "object":
				obj = f[i+1].(string)
			case "count":
				n = f[i+1].(int64)
			}
		}
		m[obj] += n
	}
	return m
}

// rawConn is a connection that speaks RESP by hand: an application client
// whose bytes the test controls.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t testing.TB, network, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

// send writes one command and, unless noReply, reads its reply.
func (c *rawConn) send(t testing.TB, noReply bool, args ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	if noReply {
		return ""
	}
	reply, err := readReply(c.r)
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return reply
}

// readReply reads one RESP2/RESP3 reply and returns it flattened.
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty line")
	}
	switch line[0] {
	case '$', '=', '!':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*', '%', '~', '>':
		n, _ := strconv.Atoi(line[1:])
		if line[0] == '%' {
			n *= 2
		}
		parts := make([]string, 0, max(n, 0))
		for i := 0; i < n; i++ {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return "[" + strings.Join(parts, " ") + "]", nil
	}
	return line, nil
}

func actCtx() context.Context { return context.Background() }
