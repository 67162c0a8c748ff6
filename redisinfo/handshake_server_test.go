package redisinfo

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
	"redtop/internal/redisproc"
)

// TestHandshakesAreBooked: every connection go-redis opens from a target
// with Handshake set is booked, so reconnects and new pools do not show up
// as the server's own traffic.
func TestHandshakesAreBooked(t *testing.T) {
	s := redisproc.ForTest(t, redisproc.Options{})
	l := NewLedger()
	tgt := conn.Target{Network: s.Network(), Addr: s.Addr(), DB: 3, Timeout: 2 * time.Second, Handshake: l.Handshake}
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Network: s.Network(), Addr: s.Addr(), Protocol: 2, DisableIdentity: true})
	defer admin.Close()
	before := Parse(admin.Info(ctx, "stats", "commandstats").Val())
	for range 5 {
		c := redis.NewClient(tgt.Options())
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	after := Parse(admin.Info(ctx, "stats", "commandstats").Val())
	own := l.Get(s.Addr())
	for _, cmd := range []string{"hello", "client|setname", "select"} {
		if got, want := own.Calls[cmd], after.Commands[cmd].Calls-before.Commands[cmd].Calls; got != want {
			t.Errorf("%s: booked %d, the server counted %d", cmd, got, want)
		}
	}
	// Bytes: the server's counters moved by the five handshakes and PINGs,
	// and the INFO reply to admin (out) and its request (in).
	in := after.Int("total_net_input_bytes") - before.Int("total_net_input_bytes")
	out := after.Int("total_net_output_bytes") - before.Int("total_net_output_bytes")
	pings := int64(5 * (respLen([]string{"ping"})))
	t.Logf("handshake bytes: booked in %d out %d; server in %d out %d (with 5 PINGs and one INFO)", own.NetIn, own.NetOut, in, out)
	if d := in - pings - own.NetIn; d < 0 || d > 60 { // 60: the INFO request
		t.Errorf("bytes in: booked %d, server %d (less %d of PINGs and one INFO request)", own.NetIn, in, pings)
	}
}
