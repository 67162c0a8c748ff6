package redisinfo

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestPollerSetNodesAndNotes(t *testing.T) {
	dial := func(addr string) *redis.Client {
		return redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	}
	a, b, c := dial("127.0.0.1:1"), dial("127.0.0.1:2"), dial("127.0.0.1:3")
	p := NewPoller([]Node{{Addr: "a", Client: a}, {Addr: "b", Client: b}}, nil, 100*time.Millisecond)
	p.Note(Event{Level: Warn, Text: "b failed over to c"})
	p.SetNodes([]Node{{Addr: "a", Client: a}, {Addr: "c", Client: c}})
	if err := b.Ping(context.Background()).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("the client of a node that left is not closed: %v", err)
	}
	got := p.Poll(context.Background())
	if len(got) != 2 || got[0].Node != "a" || got[1].Node != "c" {
		t.Fatalf("polled %+v", got)
	}
	if len(got[0].Events) != 1 || got[0].Events[0].At.IsZero() || len(got[1].Events) != 0 {
		t.Fatalf("events: %+v / %+v", got[0].Events, got[1].Events)
	}
	if again := p.Poll(context.Background()); len(again[0].Events) != 0 {
		t.Fatalf("events delivered twice: %+v", again[0].Events)
	}
	p.Close()
}
