package redisinfo

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// SlowlogDefault is how many entries FetchSlowlog asks for when told 0:
// the server's default slowlog-max-len.
const SlowlogDefault = 128

// SlowEntry is one slow log entry.
type SlowEntry struct {
	ID       int64
	Time     time.Time     // when the command ran, to the second
	Duration time.Duration // its execution time, without I/O
	// Args are the command and its arguments as the server kept them: at
	// most 32 (the last then reads "... (N more arguments)") and 128 bytes
	// of each (then followed by "... (N more bytes)"). Raw bytes.
	Args []string
	// Command is Args for a terminal: each escaped (escapeText),
	// quoted when empty or holding a space or a quote, the server's cut
	// marks kept outside the quotes: SET "a b" 1.
	Command    string
	ClientAddr string // escaped; "" before Redis 4.0
	ClientName string // escaped
	// New: logged after the operator last looked (set by SlowlogSeen.Mark).
	New bool
}

// FetchSlowlog sends SLOWLOG GET n (n ≤ 0: SlowlogDefault) and returns the
// entries newest first. Malformed entries are skipped.
func FetchSlowlog(ctx context.Context, c *redis.Client, node string, ledger *Ledger, n int) ([]SlowEntry, error) {
	if n <= 0 {
		n = SlowlogDefault
	}
	args := []string{"slowlog", "get", strconv.Itoa(n)}
	w := wire{ledger, node}
	v, err := c.Do(ctx, "slowlog", "get", args[2]).Slice()
	if err != nil {
		w.failed("slowlog|get", args, err)
		if fe := refusal(FeatureSlowlogGet, err); fe != nil {
			return nil, fe
		}
		return nil, err
	}
	w.ok("slowlog|get", args, wireValue(v))
	return parseSlowlog(v), nil
}

// parseSlowlog reads SLOWLOG GET's reply: per entry id, unix time,
// microseconds, arguments, and from Redis 4.0 client address and name.
func parseSlowlog(v []any) []SlowEntry {
	out := make([]SlowEntry, 0, len(v))
	for _, item := range v {
		f, ok := item.([]any)
		if !ok || len(f) < 4 {
			continue
		}
		id, ok1 := f[0].(int64)
		ts, ok2 := f[1].(int64)
		us, ok3 := f[2].(int64)
		raw, ok4 := f[3].([]any)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			continue
		}
		e := SlowEntry{ID: id, Time: time.Unix(ts, 0), Duration: time.Duration(us) * time.Microsecond}
		e.Args = make([]string, 0, len(raw))
		for _, a := range raw {
			s, _ := a.(string)
			e.Args = append(e.Args, s)
		}
		e.Command = slowCommand(e.Args)
		if len(f) > 4 {
			s, _ := f[4].(string)
			e.ClientAddr = escapeText(s)
		}
		if len(f) > 5 {
			s, _ := f[5].(string)
			e.ClientName = escapeText(s)
		}
		out = append(out, e)
	}
	return out
}

// The server's own marks in a slow log entry (slowlog.c).
const (
	slowMaxArgs  = 32
	slowMaxBytes = 128
)

func slowCommand(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if i == slowMaxArgs-1 && len(args) == slowMaxArgs && isCutMark(a, "... (", " more arguments)") {
			b.WriteString("…" + a[len("..."):])
			continue
		}
		mark := ""
		if len(a) > slowMaxBytes && isCutMark(a[slowMaxBytes:], "... (", " more bytes)") {
			a, mark = a[:slowMaxBytes], "…"+a[slowMaxBytes+len("..."):]
		}
		b.WriteString(quoteArg(a))
		b.WriteString(mark)
	}
	return b.String()
}

// isCutMark: s is prefix, a number, suffix.
func isCutMark(s, prefix, suffix string) bool {
	if !strings.HasPrefix(s, prefix) || !strings.HasSuffix(s, suffix) || len(s) < len(prefix)+len(suffix)+1 {
		return false
	}
	return isDigits(s[len(prefix) : len(s)-len(suffix)])
}

// quoteArg escapes one argument, in double quotes when it is empty or holds
// a space or a double quote (written \", as keys.Unescape reads it).
func quoteArg(a string) string {
	e := escapeText(a)
	if a != "" && !strings.ContainsAny(a, " \"") {
		return e
	}
	return `"` + strings.ReplaceAll(e, `"`, `\"`) + `"`
}

// SlowlogConfig reads slowlog-log-slower-than and slowlog-max-len with one
// CONFIG GET. slowerThan < 0 means the slow log is off, 0 that it logs
// every command. A user without +config|get gets a *FeatureError wrapping
// ErrNotAllowed: CONFIG is an admin command many monitoring users lack.
func SlowlogConfig(ctx context.Context, c *redis.Client, node string, ledger *Ledger) (slowerThan time.Duration, maxLen int64, err error) {
	m, err := configGet(ctx, c, node, ledger, "slowlog-*")
	if err != nil {
		return 0, 0, err
	}
	us, err1 := strconv.ParseInt(m["slowlog-log-slower-than"], 10, 64)
	n, err2 := strconv.ParseInt(m["slowlog-max-len"], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("CONFIG GET slowlog-*: unexpected reply %v", m)
	}
	return time.Duration(us) * time.Microsecond, n, nil
}

// configGet sends CONFIG GET pattern (one pattern: servers before 7.0
// take only one) and returns the name→value pairs.
func configGet(ctx context.Context, c *redis.Client, node string, ledger *Ledger, pattern string) (map[string]string, error) {
	args := []string{"config", "get", pattern}
	w := wire{ledger, node}
	v, err := c.Do(ctx, "config", "get", pattern).Slice()
	if err != nil {
		w.failed("config|get", args, err)
		if fe := refusal(FeatureConfigGet, err); fe != nil {
			return nil, fe
		}
		return nil, err
	}
	w.ok("config|get", args, wireValue(v))
	m := make(map[string]string, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		k, _ := v[i].(string)
		val, _ := v[i+1].(string)
		m[k] = val
	}
	return m, nil
}

// ResetSlowlog empties the slow log (SLOWLOG RESET) through w, a client
// with retries off (conn.Target.WriterOptions). A reset that timed out is
// reported as of unknown outcome (ErrOutcomeUnknown), never sent again.
// Entry ids keep counting up after a reset.
func ResetSlowlog(ctx context.Context, w *redis.Client, node string, ledger *Ledger) (string, error) {
	const what = "SLOWLOG RESET"
	if err := writerRetries(w); err != nil {
		return "", fmt.Errorf("%s not sent: %w", what, err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("%s not sent: %w", what, err)
	}
	args := []string{"slowlog", "reset"}
	b := wire{ledger, node}
	err := w.Do(ctx, "slowlog", "reset").Err()
	switch {
	case err == nil:
		b.ok("slowlog|reset", args, wireStatus("OK"))
		return "slow log cleared", nil
	case isServerReply(err):
		b.failed("slowlog|reset", args, err)
		if fe := refusal(FeatureSlowlogReset, err); fe != nil {
			return "", fe
		}
		return "", fmt.Errorf("%s refused: %w", what, err)
	}
	b.unknownWrite("slowlog|reset", err)
	return "", writeFailed(what, err)
}

// SlowlogSeen remembers the highest entry id the operator has seen, to
// mark what came after. The zero value is ready; it is not safe for
// concurrent use (the pane owns it).
type SlowlogSeen struct {
	seen   int64
	primed bool
}

// Mark sets New on the entries logged since the operator last looked and
// returns how many there are. Until See is first called, the entries of
// the first call count as seen: what was in the log before redtop started
// is not news. Ids restart from 0 when the server restarts: an id below
// the highest seen then makes everything new again.
func (s *SlowlogSeen) Mark(es []SlowEntry) int {
	top, ok := maxSlowID(es)
	if !s.primed {
		s.primed = true
		s.seen = -1
		if ok {
			s.seen = top
		}
	}
	if ok && top < s.seen {
		s.seen = -1 // restarted
	}
	n := 0
	for i := range es {
		es[i].New = es[i].ID > s.seen
		if es[i].New {
			n++
		}
	}
	return n
}

// See records that the operator has seen es: they are no longer new.
func (s *SlowlogSeen) See(es []SlowEntry) {
	if !s.primed {
		s.primed, s.seen = true, -1
	}
	if top, ok := maxSlowID(es); ok {
		s.seen = top // below the last one: the server restarted
	}
	for i := range es {
		es[i].New = false
	}
}

func maxSlowID(es []SlowEntry) (int64, bool) {
	if len(es) == 0 {
		return 0, false
	}
	top := es[0].ID
	for _, e := range es[1:] {
		top = max(top, e.ID)
	}
	return top, true
}
