package redisinfo

import (
	"context"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Access is what is known about one feature.
type Access uint8

const (
	// AccessUnknown: it could not be found out (Redis 6.x without ACL
	// DRYRUN, or a user who may not ask). Try it: the first real call
	// decides, and Gate remembers a refusal.
	AccessUnknown Access = iota
	// AccessAllowed: the server has the command and the user may run it.
	AccessAllowed
	// AccessDenied: ACL forbids it ("needs +monitor").
	AccessDenied
	// AccessMissing: the server does not have it (rename-command, or too
	// old a version).
	AccessMissing
)

func (a Access) String() string {
	return [...]string{"unknown", "allowed", "denied", "missing"}[a]
}

// Perm is one feature's access and, when not allowed, why.
type Perm struct {
	Access Access
	Why    string // "needs +monitor", "SLOWLOG is disabled or renamed on this server"
}

// Perms is what the connected user may do on one server, asked once per
// session by ProbePerms.
type Perms struct {
	User    string   // from ACL WHOAMI; "" when not known
	Checked bool     // ACL DRYRUN answered for every feature it could
	Notes   []string // what could not be found out, one line each
	m       map[Feature]Perm
}

// Get is what is known about f.
func (p Perms) Get(f Feature) Perm { return p.m[f] }

// Allowed is false only when f is known not to work: unknown counts as
// allowed (the first call decides).
func (p Perms) Allowed(f Feature) bool {
	a := p.m[f].Access
	return a != AccessDenied && a != AccessMissing
}

// Explain says why f cannot be used ("needs +monitor", "CLIENT LIST is
// disabled or renamed on this server"), "" when it can or nobody knows.
func (p Perms) Explain(f Feature) string {
	if p.Allowed(f) {
		return ""
	}
	return p.m[f].Why
}

func (p *Perms) set(f Feature, a Access, why string) {
	if p.m == nil {
		p.m = make(map[Feature]Perm, len(Features))
	}
	p.m[f] = Perm{Access: a, Why: why}
}

// dryRunArgs are the commands ACL DRYRUN is asked about, one per feature,
// with arguments that satisfy their arity.
var dryRunArgs = map[Feature][]string{
	FeatureMonitor:       {"monitor"},
	FeatureClientList:    {"client", "list"},
	FeatureClientKill:    {"client", "kill", "id", "0"},
	FeatureSlowlogGet:    {"slowlog", "get"},
	FeatureSlowlogReset:  {"slowlog", "reset"},
	FeatureConfigGet:     {"config", "get", "slowlog-log-slower-than"},
	FeatureLatencyLatest: {"latency", "latest"},
}

// probedCommands are asked about with one COMMAND INFO: the features'
// commands, ACL (for WHOAMI and DRYRUN) and HELLO (6.0+: a server without
// either has no ACL at all).
var probedCommands = []string{"monitor", "client", "slowlog", "config", "latency", "acl", "hello"}

// ProbePerms finds out, once per session, which features the connected
// user may use on node. It sends at most four rounds: COMMAND INFO for the
// commands (renamed or disabled ones answer nil), ACL WHOAMI, then ACL
// DRYRUN for one feature and, if that was answered, for the others in one
// pipeline (Redis 7.0+). It sends nothing that would be refused for a
// command the server lacks, and stops at the first refusal of its own
// questions (each is an entry in the server's ACL LOG); what it could not
// find out stays AccessUnknown, with a note. It never fails: a transport
// error leaves everything unknown.
func ProbePerms(ctx context.Context, c *redis.Client, node string, ledger *Ledger) Perms {
	var p Perms
	w := wire{ledger, node}
	info, ok, err := commandInfo(ctx, c, w, &p)
	if err != nil {
		p.Notes = append(p.Notes, "permissions not checked: "+err.Error())
		return p
	}
	for _, f := range Features {
		if ok && !info.has(f) {
			p.set(f, AccessMissing, missingFor(f, info))
		}
	}
	switch {
	case ok && !info.exists("acl") && !info.exists("hello"):
		// Before 6.0 there are no ACLs: whoever is in may run everything.
		for _, f := range Features {
			if p.m[f].Access == AccessUnknown {
				p.set(f, AccessAllowed, "")
			}
		}
		p.Checked = true
		return p
	case ok && !info.exists("acl"):
		p.Notes = append(p.Notes, "permissions: ACL is disabled or renamed on this server")
		return p
	case ok && !info.hasSub("acl", "whoami"):
		p.Notes = append(p.Notes, "permissions: this server has no ACL WHOAMI")
		return p
	}

	user, err := c.Do(ctx, "acl", "whoami").Text()
	if err != nil {
		w.failed("acl|whoami", []string{"acl", "whoami"}, err)
		p.Notes = append(p.Notes, "permissions: ACL WHOAMI: "+err.Error())
		return p
	}
	w.ok("acl|whoami", []string{"acl", "whoami"}, wireBulk(len(user)))
	p.User = user
	if ok && !info.hasSub("acl", "dryrun") {
		p.Notes = append(p.Notes, "permissions: ACL DRYRUN needs Redis 7.0")
		return p
	}
	dryRun(ctx, c, w, &p, user)
	return p
}

// dryRun asks ACL DRYRUN about every feature not already known missing:
// first one alone, so a user who may not run ACL DRYRUN is refused once,
// then the others in one pipeline.
func dryRun(ctx context.Context, c *redis.Client, w wire, p *Perms, user string) {
	var asked []Feature
	for _, f := range Features {
		if p.m[f].Access != AccessMissing {
			asked = append(asked, f)
		}
	}
	if len(asked) == 0 {
		p.Checked = true
		return
	}
	if !dryRunSome(ctx, c, w, p, user, asked[:1]) {
		return
	}
	if dryRunSome(ctx, c, w, p, user, asked[1:]) {
		p.Checked = true
	}
}

// dryRunSome pipelines ACL DRYRUN for fs and records the answers. It
// returns false, with a note, when ACL DRYRUN itself failed.
func dryRunSome(ctx context.Context, c *redis.Client, w wire, p *Perms, user string, fs []Feature) bool {
	if len(fs) == 0 {
		return true
	}
	pipe := c.Pipeline()
	cmds := make([]*redis.Cmd, len(fs))
	for i, f := range fs {
		cmds[i] = pipe.Do(ctx, append([]any{"acl", "dryrun", user}, toAny(dryRunArgs[f])...)...)
	}
	_, _ = pipe.Exec(ctx)
	for i, f := range fs {
		args := append([]string{"acl", "dryrun", user}, dryRunArgs[f]...)
		v, err := cmds[i].Text()
		switch {
		case err == nil:
			out := wireBulk(len(v))
			if v == "OK" {
				out = wireStatus(v)
			}
			w.ok("acl|dryrun", args, out)
		case isServerReply(err) && strings.HasPrefix(err.Error(), "ERR Command '"):
			// "ERR Command 'slowlog' not found": renamed or disabled.
			w.failed("acl|dryrun", args, err)
			p.set(f, AccessMissing, missingWhy(f.command()))
			continue
		default:
			w.failed("acl|dryrun", args, err)
			p.Notes = append(p.Notes, "permissions: ACL DRYRUN: "+err.Error())
			return false
		}
		switch {
		case v == "OK":
			p.set(f, AccessAllowed, "")
		case strings.Contains(v, "permissions to run"):
			p.set(f, AccessDenied, "needs +"+string(f))
		default: // some other rule (keys, channels): say it as the server does
			p.set(f, AccessDenied, v)
		}
	}
	return true
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// commandTable is COMMAND INFO's answer: command → its subcommands (nil
// before 7.0, which does not list them).
type commandTable map[string][]string

func (t commandTable) exists(name string) bool {
	_, ok := t[name]
	return ok
}

func (t commandTable) hasSub(name, sub string) bool {
	subs, ok := t[name]
	return ok && (subs == nil || slices.Contains(subs, name+"|"+sub))
}

// has: the server has f's command (and subcommand, when it lists them).
func (t commandTable) has(f Feature) bool {
	name, sub, isSub := strings.Cut(string(f), "|")
	if !isSub {
		return t.exists(name)
	}
	return t.hasSub(name, sub)
}

func missingFor(f Feature, t commandTable) string {
	if !t.exists(f.command()) {
		return missingWhy(f.command())
	}
	return f.display() + " is not supported by this server"
}

// commandInfo sends COMMAND INFO for probedCommands. ok is false when the
// server refused (a user without +command|info): existence is then
// unknown. err is a transport failure.
func commandInfo(ctx context.Context, c *redis.Client, w wire, p *Perms) (t commandTable, ok bool, err error) {
	args := append([]string{"command", "info"}, probedCommands...)
	v, err := c.Do(ctx, toAny(args)...).Slice()
	if err != nil {
		if !isServerReply(err) {
			return nil, false, err
		}
		w.failed("command|info", args, err)
		p.Notes = append(p.Notes, "commands: COMMAND INFO: "+err.Error())
		return nil, false, nil
	}
	// Flags and categories are status replies, not bulk strings: the byte
	// count is close, not exact. It is paid once per session.
	w.ok("command|info", args, wireValue(v))
	t = commandTable{}
	for i, item := range v {
		f, ok := item.([]any)
		if !ok || len(f) == 0 || i >= len(probedCommands) {
			continue // nil: no such command under that name
		}
		var subs []string
		if len(f) > 9 {
			subs = []string{}
			if list, ok := f[9].([]any); ok {
				for _, s := range list {
					if sf, ok := s.([]any); ok && len(sf) > 0 {
						name, _ := sf[0].(string)
						subs = append(subs, strings.ToLower(name))
					}
				}
			}
		}
		t[probedCommands[i]] = subs
	}
	return t, true, nil
}
