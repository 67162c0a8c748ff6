package redisinfo

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Feature is a server command behind one of redtop's panes, named as ACL
// rules name it ("client|list"), so "needs +client|list" is the rule to add.
type Feature string

// The features ProbePerms asks about.
const (
	FeatureMonitor       Feature = "monitor"
	FeatureClientList    Feature = "client|list"
	FeatureClientKill    Feature = "client|kill"
	FeatureSlowlogGet    Feature = "slowlog|get"
	FeatureSlowlogReset  Feature = "slowlog|reset"
	FeatureConfigGet     Feature = "config|get"
	FeatureLatencyLatest Feature = "latency|latest"
)

// Features lists them in a stable order.
var Features = []Feature{FeatureMonitor, FeatureClientList, FeatureClientKill, FeatureSlowlogGet, FeatureSlowlogReset, FeatureConfigGet, FeatureLatencyLatest}

// command is the top-level command: "client" for "client|list".
func (f Feature) command() string {
	c, _, _ := strings.Cut(string(f), "|")
	return c
}

// display is the feature as an operator types it: "CLIENT LIST".
func (f Feature) display() string {
	return strings.ToUpper(strings.ReplaceAll(string(f), "|", " "))
}

var (
	// ErrNotAllowed is wrapped by the error of a command the server refused
	// for this user (NOPERM): asking again will not help.
	ErrNotAllowed = errors.New("not allowed")
	// ErrUnavailable is wrapped by the error of a command this server does
	// not have: disabled or renamed (rename-command), or too old a version.
	ErrUnavailable = errors.New("not available on this server")
	// ErrOutcomeUnknown is wrapped by the error of a write (CLIENT KILL,
	// SLOWLOG RESET) that was sent but got no reply: the server may or may
	// not have run it. It is never retried.
	ErrOutcomeUnknown = errors.New("unknown: the server may or may not have applied it")
)

// FeatureError is a refusal that will not go away by asking again. It
// wraps ErrNotAllowed or ErrUnavailable, and the server's reply.
type FeatureError struct {
	Feature Feature
	Why     string // "needs +config|get", "SLOWLOG is disabled or renamed on this server"
	Reply   error  // the server's error reply
	kind    error
}

func (e *FeatureError) Error() string {
	if e.Reply == nil {
		return e.Why
	}
	return e.Why + " (" + e.Reply.Error() + ")"
}

func (e *FeatureError) Unwrap() []error {
	if e.Reply == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.Reply}
}

// refusal turns an error reply into a FeatureError when it says the user
// may not run f (NOPERM) or the server does not have it; otherwise nil.
// It reads the text, not the type, so it also works on errors from a raw
// connection (MONITOR) or wrapped ones.
func refusal(f Feature, err error) *FeatureError {
	if err == nil {
		return nil
	}
	var fe *FeatureError
	if errors.As(err, &fe) {
		return fe
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "NOPERM"):
		name := string(f)
		// "NOPERM this user has no permissions to run the 'config|get' command"
		// (7.0); "User mon has no permissions to run the …" (7.2+).
		if _, rest, ok := strings.Cut(msg, "to run the '"); ok {
			if n, _, ok := strings.Cut(rest, "'"); ok && n != "" {
				name = n
			}
		}
		return &FeatureError{Feature: f, Why: "needs +" + name, Reply: err, kind: ErrNotAllowed}
	case strings.Contains(msg, "unknown command") || strings.Contains(msg, "ERR Command '") && strings.HasSuffix(msg, "not found"):
		// ACL DRYRUN answers "ERR Command 'slowlog' not found".
		return &FeatureError{Feature: f, Why: missingWhy(f.command()), Reply: err, kind: ErrUnavailable}
	case strings.Contains(msg, "unknown subcommand"):
		return &FeatureError{Feature: f, Why: f.display() + " is not supported by this server", Reply: err, kind: ErrUnavailable}
	}
	return nil
}

func missingWhy(command string) string {
	return strings.ToUpper(command) + " is disabled or renamed on this server"
}

// isServerReply reports whether err is an error reply from the server, as
// opposed to a transport failure (where what the server did is unknown).
func isServerReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, redis.Nil)
}

// notSent reports failures that leave a command unexecuted for sure: no
// connection, or writing it failed (the server runs no partial command).
// A failure after the write (timeout, EOF while reading) is not one.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "write") {
		return true
	}
	return errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted)
}

// writeFailed describes a write (CLIENT KILL, SLOWLOG RESET) that got no
// error reply: not sent, or sent with the outcome unknown.
func writeFailed(what string, err error) error {
	if notSent(err) {
		return fmt.Errorf("%s not sent: %w", what, err)
	}
	return fmt.Errorf("%s: %w (%v)", what, ErrOutcomeUnknown, err)
}

// writerRetries refuses a client that would send a timed-out write again.
func writerRetries(w *redis.Client) error {
	// go-redis turns MaxRetries -1 (off) into 0 when the client is made.
	if n := w.Options().MaxRetries; n != 0 {
		return fmt.Errorf("writer client retries %d times: build it with conn.Target.WriterOptions (retries off)", n)
	}
	return nil
}

// rejectedPrefixes are error replies given before a command runs: the
// server counts it neither in commandstats' calls nor in
// total_commands_processed.
var rejectedPrefixes = []string{
	"NOPERM", "NOAUTH", "LOADING", "BUSY ", "MASTERDOWN", "MISCONF", "OOM",
	"ERR unknown command", "ERR unknown subcommand", "ERR wrong number of arguments",
}

func isRejected(err error) bool {
	if !isServerReply(err) {
		return false
	}
	msg := err.Error()
	for _, p := range rejectedPrefixes {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// wire books in a ledger what redtop sends to one node and what comes back,
// as the server counts it: calls in commandstats, bytes in
// total_net_input_bytes and total_net_output_bytes.
type wire struct {
	l    *Ledger
	node string
}

// ok books a command that ran: args as sent, out bytes of reply.
func (w wire) ok(name string, args []string, out int) {
	w.l.Call(w.node, name, 1)
	w.l.Bytes(w.node, int64(respLen(args)), int64(out))
}

// failed books a command that got err: a call when the server ran it,
// the bytes of an error reply. A transport failure books nothing: whether
// the server read it is unknown. Writes whose outcome is unknown book the
// call (see unknownWrite).
func (w wire) failed(name string, args []string, err error) {
	if !isServerReply(err) {
		return
	}
	if !isRejected(err) {
		w.l.Call(w.node, name, 1)
	}
	w.l.Bytes(w.node, int64(respLen(args)), int64(len(err.Error())+3))
}

// unknownWrite books a write that may have run as a call, the likelier case.
func (w wire) unknownWrite(name string, err error) {
	if !notSent(err) {
		w.l.Call(w.node, name, 1)
	}
}

// RESP2 sizes of replies, for the ledger's byte counts.
func wireBulk(n int) int      { return 1 + len(strconv.Itoa(n)) + 2 + n + 2 }
func wireArray(n int) int     { return 1 + len(strconv.Itoa(n)) + 2 }
func wireInt(v int64) int     { return 1 + len(strconv.FormatInt(v, 10)) + 2 }
func wireStatus(s string) int { return 1 + len(s) + 2 }
func wireNull() int           { return 5 } // $-1\r\n or *-1\r\n
func wireValue(v any) (n int) { // strings as bulk strings
	switch v := v.(type) {
	case string:
		return wireBulk(len(v))
	case int64:
		return wireInt(v)
	case []any:
		n = wireArray(len(v))
		for _, e := range v {
			n += wireValue(e)
		}
		return n
	case nil:
		return wireNull()
	}
	return 0
}
