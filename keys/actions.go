package keys

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/redisinfo"
)

// Outcome is what became of a single-key action.
type Outcome int

const (
	// NotApplied: the server did not apply it, for the reason in the
	// error (refused before sending, NOPERM, READONLY, no connection…).
	NotApplied Outcome = iota
	// Applied: the server applied it.
	Applied
	// Vanished: the key no longer existed when the command ran (PEXPIRE,
	// PERSIST or UNLINK answered 0), so nothing was changed.
	Vanished
	// Unchanged: PERSIST on a key that exists but had no TTL.
	Unchanged
	// OutcomeUnknown: the command was sent but no reply came (timeout,
	// connection cut): the server may or may not have applied it. It is
	// never retried.
	OutcomeUnknown
)

// ErrOutcomeUnknown is wrapped by the error of an OutcomeUnknown result, so
// a caller that only looks at err never reports success or failure for it.
var ErrOutcomeUnknown = errors.New("unknown: the server may or may not have applied it")

// ErrReadOnly is wrapped by the error of an action refused before sending
// because Caps say the server or user cannot write.
var ErrReadOnly = errors.New("read-only")

// ErrDenied is wrapped by the error of an action the server refused with
// NOPERM.
var ErrDenied = errors.New("permission denied")

// Result is the outcome of one action on one key.
type Result struct {
	Outcome Outcome
	Action  string // "set TTL", "persist", "delete"
	Key     string
	TTL     time.Duration // the TTL asked for, for "set TTL"
}

// String is a status line for the result.
func (r Result) String() string {
	switch r.Outcome {
	case Applied:
		switch r.Action {
		case "set TTL":
			return fmt.Sprintf("%s: TTL set to %s", r.Key, FormatTTL(r.TTL))
		case "persist":
			return fmt.Sprintf("%s: expiry removed", r.Key)
		case "delete":
			return fmt.Sprintf("%s: deleted", r.Key)
		}
	case Vanished:
		return fmt.Sprintf("%s: key no longer exists", r.Key)
	case Unchanged:
		return fmt.Sprintf("%s: had no expiry", r.Key)
	case OutcomeUnknown:
		return fmt.Sprintf("%s %s: %v", r.Action, r.Key, ErrOutcomeUnknown)
	}
	return fmt.Sprintf("%s %s: not applied", r.Action, r.Key)
}

// Writer sends redtop's single-key writes through a client with retries
// off (conn.Target.WriterOptions), refuses what Caps say cannot succeed
// before sending anything, and books each command it sends in the ledger.
// Writes make no keyspace lookups as the server counts them.
type Writer struct {
	c      *redis.Client
	node   string
	ledger *redisinfo.Ledger
	caps   Caps
}

// NewWriter writes through c, which must have retries off: a write that
// timed out would otherwise be sent again, and could run twice.
func NewWriter(c *redis.Client, node string, ledger *redisinfo.Ledger, caps Caps) (*Writer, error) {
	// go-redis turns MaxRetries -1 (off) into 0 when the client is made,
	// and 0 (default) into 3.
	if c.Options().MaxRetries != 0 {
		return nil, fmt.Errorf("writer client retries %d times: build it with conn.Target.WriterOptions (retries off)", c.Options().MaxRetries)
	}
	return &Writer{c: c, node: node, ledger: ledger, caps: caps}, nil
}

// Caps are the capabilities the writer refuses by.
func (w *Writer) Caps() Caps { return w.caps }

// SetTTL sets key's time to live with PEXPIRE. ttl must be positive (to
// delete a key, Delete; to remove an expiry, Persist); it is rounded up to
// whole milliseconds.
func (w *Writer) SetTTL(ctx context.Context, key string, ttl time.Duration) (Result, error) {
	r := Result{Action: "set TTL", Key: key, TTL: ttl}
	if ttl <= 0 {
		return r, fmt.Errorf("TTL must be more than zero, got %v (to remove a key use delete, to remove an expiry use persist)", ttl)
	}
	ms := (ttl + time.Millisecond - 1) / time.Millisecond
	return w.do(ctx, r, "pexpire", key, int64(ms))
}

// Persist removes key's TTL with PERSIST.
func (w *Writer) Persist(ctx context.Context, key string) (Result, error) {
	return w.do(ctx, Result{Action: "persist", Key: key}, "persist", key)
}

// Delete removes key with UNLINK (freed in the background, so a big key
// does not block the server).
func (w *Writer) Delete(ctx context.Context, key string) (Result, error) {
	return w.do(ctx, Result{Action: "delete", Key: key}, "unlink", key)
}

func (w *Writer) do(ctx context.Context, r Result, name string, args ...any) (Result, error) {
	if w.caps.ReadOnly {
		return r, fmt.Errorf("%w: %s not sent: %s", ErrReadOnly, r.Action, w.caps.ReadOnlyReason)
	}
	if why := w.caps.Denied[name]; why != "" {
		return r, fmt.Errorf("%w: %s not sent: %s", ErrDenied, r.Action, why)
	}
	if err := ctx.Err(); err != nil {
		return r, fmt.Errorf("%s not sent: %w", r.Action, err)
	}
	n, err := w.c.Do(ctx, append([]any{name}, args...)...).Int64()
	if err != nil {
		return w.failed(r, name, err)
	}
	w.ledger.Call(w.node, name, 1)
	switch {
	case n == 1:
		r.Outcome = Applied
	case name != "persist":
		r.Outcome = Vanished
	default:
		// PERSIST answers 0 both when the key is gone and when it had no
		// TTL. Either way nothing changed; EXISTS tells which.
		ex, err := w.c.Exists(ctx, r.Key).Result()
		bookLookup(w.ledger, w.node, "exists", err, ex == 1)
		if err == nil && ex == 0 {
			r.Outcome = Vanished
		} else {
			r.Outcome = Unchanged // on an EXISTS failure: nothing changed, which 0 it was is not known
		}
	}
	return r, nil
}

// failed sorts a failed write: an error reply means the server did not
// apply it; a failure to connect means it was never sent; anything else
// after sending (timeout, connection cut) is OutcomeUnknown.
func (w *Writer) failed(r Result, name string, err error) (Result, error) {
	if isServerReply(err) {
		bookRan(w.ledger, w.node, name, err)
		r.Outcome = NotApplied
		return r, explainWrite(r, err, w.c.Options().Username)
	}
	if notSent(err) {
		r.Outcome = NotApplied
		return r, fmt.Errorf("%s not sent: %w", r.Action, err)
	}
	// It may have run: book it as a call, the likelier case.
	w.ledger.Call(w.node, name, 1)
	r.Outcome = OutcomeUnknown
	return r, fmt.Errorf("%s %s: %w (%v)", r.Action, r.Key, ErrOutcomeUnknown, err)
}

// notSent reports failures that leave the command unexecuted for sure: no
// connection could be had, or writing it failed. A write error means the
// command did not reach the server whole (a successful write syscall is not
// an error), and the server runs no partial command. A failure after the
// write (timeout, EOF, reset while reading) is not among them.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "write") {
		return true
	}
	return errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted)
}

// explainWrite maps the server's refusals to a line an operator can act on.
func explainWrite(r Result, err error, user string) error {
	msg := err.Error()
	if user == "" {
		user = "default"
	}
	cmd := map[string]string{"set TTL": "PEXPIRE", "persist": "PERSIST", "delete": "UNLINK"}[r.Action]
	switch {
	case strings.HasPrefix(msg, "NOPERM"):
		return fmt.Errorf("%w: user %s may not %s %s (%s)", ErrDenied, user, r.Action, r.Key, msg)
	case strings.HasPrefix(msg, "READONLY"):
		return fmt.Errorf("%w: %s %s refused: the server is a read-only replica; connect to its master to change keys", ErrReadOnly, r.Action, r.Key)
	case strings.HasPrefix(msg, "MOVED"), strings.HasPrefix(msg, "ASK "):
		return fmt.Errorf("%s %s refused: the key is served by another cluster node (%w)", r.Action, r.Key, err)
	case strings.HasPrefix(msg, "LOADING"):
		return fmt.Errorf("%s %s refused: the server is loading its data set; try again shortly", r.Action, r.Key)
	case strings.HasPrefix(msg, "BUSY "):
		return fmt.Errorf("%s %s refused: the server is busy running a script", r.Action, r.Key)
	case strings.HasPrefix(msg, "MASTERDOWN"), strings.HasPrefix(msg, "CLUSTERDOWN"):
		return fmt.Errorf("%s %s refused: %s", r.Action, r.Key, msg)
	case strings.HasPrefix(msg, "ERR unknown command"):
		return fmt.Errorf("%s %s refused: this server does not know %s (renamed or disabled?)", r.Action, r.Key, cmd)
	}
	return fmt.Errorf("%s %s failed: %s", r.Action, r.Key, msg)
}
