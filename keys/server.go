package keys

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"redtop/redisinfo"
)

// Caps is what a server lets redtop do, probed once per node by Probe and
// then remembered: nothing here is retried per call.
type Caps struct {
	Version string // redis_version, "" when INFO was refused
	Policy  string // maxmemory-policy, "" when unknown

	// NoTouch: the server accepts CLIENT NO-TOUCH ON (Redis 7.2+), so
	// reads that would reset a key's idle time (STRLEN, HLEN, GETRANGE,
	// HSCAN…) can be made not to. It is per connection: see EnableNoTouch.
	NoTouch bool
	// LFU: the eviction policy is an LFU one, so OBJECT FREQ answers and
	// OBJECT IDLETIME errors (the other way round otherwise).
	LFU bool

	// ReadOnly: writes would be refused, for ReadOnlyReason. A replica is
	// read-only (even with replica-read-only no: a write there is lost at
	// the next resync); so is a user who may run none of UNLINK, PEXPIRE
	// and PERSIST, as ACL DRYRUN says or, when the user may not ask it,
	// the commands' own NOPERM on a key that cannot exist. The user is the
	// client's Username ("default" when empty).
	ReadOnly       bool
	ReadOnlyReason string
	// Denied holds, for each write command redtop uses ("unlink", "pexpire",
	// "persist") that the user may not run, the reason. ACLChecked is true
	// when every one of them is known allowed or denied; it is false when
	// that could not be found out (Redis < 6.0 has no ACL; a replica whose
	// user may not run ACL DRYRUN; key patterns that do not cover the probe
	// key): writes may then still fail with NOPERM, and are mapped to a
	// clear message when they do.
	Denied     map[string]string
	ACLChecked bool

	// Unknown lists what could not be found out, one line each (e.g. INFO
	// refused by ACL), for a status line or a log.
	Unknown []string
}

// InspectOptions are the Inspect options these capabilities call for:
// OBJECT FREQ under LFU, and element counts only when reads can be made
// not to touch keys (the client must also have EnableNoTouch).
func (c Caps) InspectOptions() InspectOptions {
	return InspectOptions{LFU: c.LFU, Lengths: c.NoTouch}
}

// writeCommands are the commands the Writer sends, as ACL names them.
var writeCommands = []string{"unlink", "pexpire", "persist"}

// Probe finds out what the server at node lets redtop do, once, in at most
// six round trips of small commands. It returns an error only when the
// server could not be reached; what ACL forbids finding out is left unknown
// (zero value) and listed in Caps.Unknown.
//
// Order and cost: INFO (version, role, maxmemory_policy); CONFIG GET
// maxmemory-policy only when INFO is refused or lacks the policy (CONFIG is
// an @admin command that monitoring users often may not run, and every
// refusal is an error reply and an ACL LOG entry on the server); CLIENT
// NO-TOUCH ON only when the version is 7.2 or later, or unknown, so a 7.0
// server is not sent a command it counts as an error; then the write
// permissions (Redis 6.0+, see probeACL): ACL DRYRUN for the three write
// commands (7.0+: one, then two), or, when the user may not run ACL DRYRUN
// (it is @admin) or the server lacks it, the three commands themselves on a
// key that cannot exist, in one pipeline. A monitoring user without writes
// thus leaves at most four ACL LOG entries (ACL DRYRUN, UNLINK, PEXPIRE,
// PERSIST) per session, and gets Caps.ReadOnly before anything is tried.
//
// When NO-TOUCH is accepted, the pooled connection that sent it stays
// NO-TOUCH; the others are not: install EnableNoTouch on the client's
// options for that.
func Probe(ctx context.Context, c *redis.Client, node string, ledger *redisinfo.Ledger) (Caps, error) {
	var caps Caps
	role := ""
	text, err := c.Info(ctx).Result()
	switch {
	case err == nil:
		ledger.Call(node, "info", 1)
		in := redisinfo.Parse(text)
		caps.Version = in.Fields["redis_version"]
		caps.Policy = in.Fields["maxmemory_policy"]
		role = in.Fields["role"]
	case isServerReply(err):
		bookRan(ledger, node, "info", err)
		caps.Unknown = append(caps.Unknown, "version and role: INFO refused: "+err.Error())
	default:
		return caps, err
	}

	if caps.Policy == "" {
		m, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
		switch {
		case err == nil:
			ledger.Call(node, "config|get", 1)
			caps.Policy = m["maxmemory-policy"]
		case isServerReply(err):
			bookRan(ledger, node, "config|get", err)
			caps.Unknown = append(caps.Unknown, "eviction policy: INFO and CONFIG GET refused: "+err.Error())
		default:
			return caps, err
		}
	}
	caps.LFU = strings.Contains(caps.Policy, "lfu")

	if caps.Version == "" || versionAtLeast(caps.Version, 7, 2) {
		ok, err := tryNoTouch(ctx, c, node, ledger)
		if err != nil {
			return caps, err
		}
		caps.NoTouch = ok
	}

	if role == "slave" {
		caps.ReadOnly = true
		caps.ReadOnlyReason = "connected to a replica"
	}
	// ACL arrived in 6.0: before, whoever is in may write.
	if caps.Version == "" || versionAtLeast(caps.Version, 6, 0) {
		dryRun := caps.Version == "" || versionAtLeast(caps.Version, 7, 0)
		if err := probeACL(ctx, c, node, ledger, &caps, dryRun); err != nil {
			return caps, err
		}
	}
	return caps, nil
}

// tryNoTouch sends CLIENT NO-TOUCH ON and reports whether the server took
// it. A server that does not know the subcommand (7.0, 7.1) or a user who
// may not run it gives false; only a transport failure is an error.
func tryNoTouch(ctx context.Context, c doer, node string, ledger *redisinfo.Ledger) (bool, error) {
	err := c.Do(ctx, "client", "no-touch", "on").Err()
	switch {
	case err == nil:
		ledger.Call(node, "client|no-touch", 1)
		return true, nil
	case isServerReply(err):
		bookRan(ledger, node, "client|no-touch", err)
		return false, nil
	}
	return false, err
}

// doer is what sends a command by its arguments: *redis.Client, *redis.Conn.
type doer interface {
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// probeACL finds out which of writeCommands the user may run. ACL DRYRUN
// (dryRun: Redis 7.0+, or version unknown) asks without running anything:
// one first, so a user who may not run it (it is @admin) is refused once,
// then the other two in one pipeline. When the server lacks it (6.x) or the
// user may not ask, probeWrites sends the commands themselves on a key that
// cannot exist, unless writes are off already (a replica: they would only
// get READONLY).
func probeACL(ctx context.Context, c *redis.Client, node string, ledger *redisinfo.Ledger, caps *Caps, dryRun bool) error {
	user := c.Options().Username
	if user == "" {
		user = "default"
	}
	denied := map[string]string{}
	checked, why := false, "ACL DRYRUN needs Redis 7.0"
	if dryRun {
		var err error
		checked, why, err = dryRunWrites(ctx, c, node, ledger, user, denied)
		if err != nil {
			return err
		}
	}
	switch {
	case checked:
	case caps.ReadOnly:
		caps.Unknown = append(caps.Unknown, "write permissions: "+why)
	default:
		var err error
		checked, err = probeWrites(ctx, c, node, ledger, user, caps, denied)
		if err != nil {
			return err
		}
	}
	caps.ACLChecked = checked
	if len(denied) > 0 {
		caps.Denied = denied
	}
	if len(denied) == len(writeCommands) && !caps.ReadOnly {
		caps.ReadOnly = true
		reasons := make([]string, 0, len(denied))
		for _, name := range writeCommands {
			reasons = append(reasons, "+"+name)
		}
		caps.ReadOnlyReason = fmt.Sprintf("user %s lacks %s", user, strings.Join(reasons, ", "))
	}
	return nil
}

// dryRunWrites asks ACL DRYRUN about each write command, the first alone:
// a user who may not run ACL DRYRUN, or a server without it, answers that
// once. answered is false, with why, when ACL DRYRUN itself failed.
func dryRunWrites(ctx context.Context, c *redis.Client, node string, ledger *redisinfo.Ledger, user string, denied map[string]string) (answered bool, why string, err error) {
	args := map[string][]any{
		"unlink":  {"unlink", "redtop:probe"},
		"pexpire": {"pexpire", "redtop:probe", "1000"},
		"persist": {"persist", "redtop:probe"},
	}
	for _, batch := range [][]string{writeCommands[:1], writeCommands[1:]} {
		pipe := c.Pipeline()
		cmds := make([]*redis.StringCmd, len(batch))
		for i, name := range batch {
			cmds[i] = pipe.ACLDryRun(ctx, user, args[name]...)
		}
		_, _ = pipe.Exec(ctx)
		var failed, lost error
		for i, name := range batch {
			reply, err := cmds[i].Result()
			switch {
			case err == nil:
				ledger.Call(node, "acl|dryrun", 1)
			case isServerReply(err):
				bookRan(ledger, node, "acl|dryrun", err)
				failed = cmp.Or(failed, err)
				continue
			default:
				lost = cmp.Or(lost, err)
				continue
			}
			// "OK", or a sentence saying why not. A key pattern that does not
			// cover the probe key says nothing about the command itself.
			if reply != "OK" && strings.Contains(reply, "to run the") {
				denied[name] = fmt.Sprintf("user %s lacks +%s", user, name)
			}
		}
		switch {
		case lost != nil:
			return false, "", lost
		case failed != nil:
			clear(denied)
			return false, "ACL DRYRUN refused: " + failed.Error(), nil
		}
	}
	return true, "", nil
}

// probeWrites finds out which write commands the user may run by sending
// them, pipelined in one round trip, on a key that cannot exist
// (redtop:probe:<random hex>): UNLINK k, PEXPIRE k 1, PERSIST k. A user who
// may run them gets 0 and nothing changes (the server counts no keyspace
// miss for a write's lookup, and propagates nothing). A user who may not is
// refused before the command runs: one ACL LOG entry per command per
// session. answered is false when a refusal was about the key (a ~pattern
// that does not cover the probe key): the commands are then left allowed,
// and refused key by key if the patterns say so.
//
// Any other error reply comes after the ACL check (a cluster redirect,
// MISCONF, NOREPLICAS…): the user may run the command. (On a cluster node
// the random key is usually another node's: a user who may write but not
// run ACL DRYRUN costs the node up to three MOVED replies in its
// errorstats, once.) READONLY says the server is a replica, which INFO
// would have said had it been allowed.
func probeWrites(ctx context.Context, c *redis.Client, node string, ledger *redisinfo.Ledger, user string, caps *Caps, denied map[string]string) (answered bool, err error) {
	key := fmt.Sprintf("redtop:probe:%016x", rand.Uint64())
	args := map[string][]any{
		"unlink":  {"unlink", key},
		"pexpire": {"pexpire", key, 1},
		"persist": {"persist", key},
	}
	pipe := c.Pipeline()
	cmds := make([]*redis.Cmd, len(writeCommands))
	for i, name := range writeCommands {
		cmds[i] = pipe.Do(ctx, args[name]...)
	}
	_, _ = pipe.Exec(ctx)
	answered = true
	var lost error
	for i, name := range writeCommands {
		err := cmds[i].Err()
		if err == nil {
			ledger.Call(node, name, 1) // 0: no such key, no keyspace miss counted
			continue
		}
		if !isServerReply(err) {
			lost = cmp.Or(lost, err)
			continue
		}
		bookRan(ledger, node, name, err)
		msg := err.Error()
		switch {
		case strings.HasPrefix(msg, "NOPERM") && strings.Contains(msg, "permissions to run the"):
			denied[name] = fmt.Sprintf("user %s lacks +%s", user, name)
		case strings.HasPrefix(msg, "NOPERM"):
			answered = false
			note := "write permissions: unknown, the user's key patterns do not cover " + key + ": writes are tried, and refused key by key (" + msg + ")"
			if !slices.Contains(caps.Unknown, note) {
				caps.Unknown = append(caps.Unknown, note)
			}
		case strings.HasPrefix(msg, "READONLY") && !caps.ReadOnly:
			caps.ReadOnly, caps.ReadOnlyReason = true, "connected to a replica"
		case strings.HasPrefix(msg, "ERR unknown command"):
			answered = false
			caps.Unknown = append(caps.Unknown, "write permissions: "+strings.ToUpper(name)+": "+msg)
		}
	}
	if lost != nil {
		return false, lost
	}
	return answered, nil
}

// EnableNoTouch makes every connection opened with o send CLIENT NO-TOUCH
// ON before its first command, after any OnConnect hook already set. Reads
// through such a client leave keys' idle time and LFU counter alone.
//
// Install it only when Probe reported Caps.NoTouch, on the reading client
// (the writer does not need it):
//
//	o := target.Options()
//	if caps.NoTouch {
//		keys.EnableNoTouch(o, node, ledger, func(err error) { /* status line */ })
//	}
//	reader := redis.NewClient(o)
//
// If a server refuses it later (a failover to an older replica), the
// connection still opens, so browsing keeps working, and refused hears why:
// reads through that connection then touch keys.
func EnableNoTouch(o *redis.Options, node string, ledger *redisinfo.Ledger, refused func(error)) {
	o.OnConnect = NoTouchOnConnect(node, ledger, o.OnConnect, refused)
}

// NoTouchOnConnect is the OnConnect hook EnableNoTouch installs: it sends
// CLIENT NO-TOUCH ON, books it, then calls next (may be nil). A server
// error reply goes to refused (may be nil) and the connection opens anyway;
// a transport error fails the connection.
func NoTouchOnConnect(node string, ledger *redisinfo.Ledger, next func(context.Context, *redis.Conn) error, refused func(error)) func(context.Context, *redis.Conn) error {
	return func(ctx context.Context, cn *redis.Conn) error {
		ok, err := tryNoTouch(ctx, cn, node, ledger)
		if err != nil {
			return err
		}
		if !ok && refused != nil {
			refused(errors.New("server refused CLIENT NO-TOUCH ON: reads will reset keys' idle time"))
		}
		if next != nil {
			return next(ctx, cn)
		}
		return nil
	}
}

// versionAtLeast compares a "7.2.4"-style version with major.minor.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// isServerReply reports whether err is an error reply from the server (as
// opposed to a transport failure, where it is unknown what the server did).
func isServerReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// rejectedPrefixes are error replies the server gives before running a
// command: such a command counts neither in commandstats' calls nor in
// total_commands_processed, and made no keyspace lookup.
var rejectedPrefixes = []string{
	"NOPERM", "NOAUTH", "READONLY", "MOVED ", "ASK ", "CLUSTERDOWN", "CROSSSLOT",
	"TRYAGAIN", "LOADING", "BUSY ", "MASTERDOWN", "MISCONF", "OOM", "NOREPLICAS",
	"EXECABORT", "ERR unknown command", "ERR unknown subcommand", "ERR wrong number of arguments",
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

// bookRan books a command that got an error reply, if the server ran it.
func bookRan(ledger *redisinfo.Ledger, node, name string, err error) {
	if !isRejected(err) {
		ledger.Call(node, name, 1)
	}
}

// bookLookup books one keyspace-reading command from its reply, as the
// server counts it: a call when it ran, and a hit or a miss when it looked
// the key up. found says whether a successful reply means the key was
// there; redis.Nil always means a miss. A command that errored after its
// lookup (WRONGTYPE; OBJECT FREQ/IDLETIME under the wrong policy) found the
// key. A transport failure books nothing: whether it ran is unknown.
func bookLookup(ledger *redisinfo.Ledger, node, name string, err error, found bool) {
	switch {
	case err == nil:
		ledger.Call(node, name, 1)
		if found {
			ledger.Lookups(node, 1, 0)
		} else {
			ledger.Lookups(node, 0, 1)
		}
	case errors.Is(err, redis.Nil):
		ledger.Call(node, name, 1)
		ledger.Lookups(node, 0, 1)
	case isServerReply(err) && !isRejected(err):
		ledger.Call(node, name, 1)
		if isWrongType(err) || isPolicyError(err) {
			ledger.Lookups(node, 1, 0)
		}
	}
}

// isPolicyError: OBJECT FREQ without an LFU policy, or OBJECT IDLETIME with
// one. The server looked the key up, found it, then refused.
func isPolicyError(err error) bool {
	return isServerReply(err) && strings.Contains(err.Error(), "maxmemory policy is")
}
