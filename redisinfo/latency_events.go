package redisinfo

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// LatencyOffHint is what to show when latency monitoring is off. redtop
// never turns it on itself: it is the operator's server.
const LatencyOffHint = "latency monitoring is off: CONFIG SET latency-monitor-threshold 100 enables it"

// LatencyEvent is one line of LATENCY LATEST: the newest and the worst
// spike of one kind of event ("command", "fast-command", "fork",
// "expire-cycle"…) above latency-monitor-threshold.
type LatencyEvent struct {
	Name   string // escaped
	Time   time.Time
	Latest time.Duration
	Max    time.Duration
}

// FetchLatencyLatest sends LATENCY LATEST. It is empty while monitoring is
// off (see LatencyEnabled) and until a spike happens. Malformed lines are
// skipped.
func FetchLatencyLatest(ctx context.Context, c *redis.Client, node string, ledger *Ledger) ([]LatencyEvent, error) {
	args := []string{"latency", "latest"}
	w := wire{ledger, node}
	v, err := c.Do(ctx, "latency", "latest").Slice()
	if err != nil {
		w.failed("latency|latest", args, err)
		if fe := refusal(FeatureLatencyLatest, err); fe != nil {
			return nil, fe
		}
		return nil, err
	}
	w.ok("latency|latest", args, wireValue(v))
	return parseLatencyLatest(v), nil
}

// parseLatencyLatest reads [name, unix time, latest ms, max ms] lines;
// fields a later version may add are ignored.
func parseLatencyLatest(v []any) []LatencyEvent {
	out := make([]LatencyEvent, 0, len(v))
	for _, item := range v {
		f, ok := item.([]any)
		if !ok || len(f) < 4 {
			continue
		}
		name, ok1 := f[0].(string)
		ts, ok2 := f[1].(int64)
		latest, ok3 := f[2].(int64)
		worst, ok4 := f[3].(int64)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			continue
		}
		out = append(out, LatencyEvent{
			Name:   escapeText(name),
			Time:   time.Unix(ts, 0),
			Latest: time.Duration(latest) * time.Millisecond,
			Max:    time.Duration(worst) * time.Millisecond,
		})
	}
	return out
}

// LatencyEnabled reads latency-monitor-threshold with CONFIG GET: enabled
// when it is above 0; threshold is its value. When it is off, show
// LatencyOffHint. A user without +config|get gets a *FeatureError wrapping
// ErrNotAllowed: LATENCY LATEST may still answer.
func LatencyEnabled(ctx context.Context, c *redis.Client, node string, ledger *Ledger) (enabled bool, threshold time.Duration, err error) {
	m, err := configGet(ctx, c, node, ledger, "latency-monitor-threshold")
	if err != nil {
		return false, 0, err
	}
	ms, err := strconv.ParseInt(m["latency-monitor-threshold"], 10, 64)
	if err != nil {
		return false, 0, err
	}
	return ms > 0, time.Duration(ms) * time.Millisecond, nil
}
