package keys

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// writersNow counts the server's clients whose last command was cmd: the
// write lanes of a run in progress.
func (b *bulkRig) writersNow(t *testing.T, cmd string) int {
	t.Helper()
	list, err := b.admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Error(err)
		return -1
	}
	n := 0
	for l := range strings.Lines(list) {
		if strings.Contains(l, " cmd="+cmd+" ") {
			n++
		}
	}
	return n
}

// TestBulkLanes: an unpaced run writes on two connections at once, one
// paced by latency on one; either way every key is done once, and the
// journal lists each batch once.
func TestBulkLanes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		auto  bool
		lanes int
	}{{"unpaced", false, 2}, {"auto", true, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b := newBulkRig(t)
			b.populate(t, 20_000, "key")
			var pages atomic.Int32
			writers := -1
			afterPage = func(string) {
				// By the 10th page (20 batches handed out) every lane has
				// had one.
				if pages.Add(1) == 10 {
					writers = b.writersNow(t, "unlink")
				}
			}
			defer func() { afterPage = nil }()
			opt := b.opts(OpDelete, "key:*")
			opt.Auto = tc.auto
			rep, err := RunBulk(ctx, b.reader, b.writer, opt, nil)
			if err != nil || !rep.OK() || rep.Applied != 20_000 || rep.Batches != 40 {
				t.Fatalf("report %+v %v", rep, err)
			}
			if writers != tc.lanes {
				t.Fatalf("%d connections wrote at once, want %d", writers, tc.lanes)
			}
			if n := b.admin.DBSize(ctx).Val(); n != 0 {
				t.Fatalf("%d keys left", n)
			}
			j := readJournal(t, rep.Journal)
			if len(j.Applied) != 20_000 || j.AppliedCount != 20_000 || len(slices.Compact(slices.Sorted(slices.Values(j.Applied)))) != 20_000 {
				t.Fatalf("journal lists %d keys, counts %d", len(j.Applied), j.AppliedCount)
			}
		})
	}
}

// TestBulkLaneNotDialled: when the second write connection cannot be
// opened (a server at maxclients), the run goes on, one batch at a time.
func TestBulkLaneNotDialled(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	b.populate(t, 5_000, "key")
	o := *b.writer.Options()
	o.MaxRetries = -1 // the copy holds 0, which a new client reads as the default, 3
	dial := o.Dialer
	var dials atomic.Int32
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) > 1 {
			return nil, errors.New("ERR max number of clients reached")
		}
		return dial(ctx, network, addr)
	}
	w := redis.NewClient(&o)
	defer w.Close()
	var once sync.Once
	writers := -1
	afterPage = func(string) { once.Do(func() { writers = b.writersNow(t, "pexpire") }) }
	defer func() { afterPage = nil }()
	opt := b.opts(OpExpire, "key:*")
	opt.TTL = time.Hour
	rep, err := RunBulk(ctx, b.reader, w, opt, nil)
	if err != nil || !rep.OK() || rep.Applied != 5_000 {
		t.Fatalf("report %+v %v", rep, err)
	}
	if dials.Load() != 2 || writers > 1 {
		t.Fatalf("%d dials, %d connections wrote at once", dials.Load(), writers)
	}
	if ttl := b.admin.TTL(ctx, "key:4999").Val(); ttl <= 0 {
		t.Fatalf("key:4999 TTL %v", ttl)
	}
}
