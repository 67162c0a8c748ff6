package redisinfo

import (
	"sync"
)

// Gate stops redtop from asking again for what the server has refused.
// Every NOPERM is an entry in the server's ACL LOG (and an error in its
// errorstats): a pane that polled a refused command every second would
// fill it. Built from the session's Perms, a Gate also remembers the first
// NOPERM or unknown-command reply of each feature, so the server's ACL LOG
// grows by at most one entry per command per session. It is safe for
// concurrent use (commands fail in tea.Cmd goroutines).
//
// Two ways to use it: Do wraps a call; or check Allowed before a call and
// hand its error to Fail. With Allowed and Fail, two panes that start the
// same unknown command at once can both be refused; Do lets the first call
// of a feature whose access is unknown run alone.
type Gate struct {
	mu      sync.Mutex
	perms   Perms
	refused map[Feature]*FeatureError
	first   map[Feature]*gateProbe
}

// gateProbe serializes a feature's calls until one succeeds.
type gateProbe struct {
	mu        sync.Mutex
	confirmed bool // a call succeeded: no need to serialize
}

// NewGate starts from what ProbePerms found out (a zero Perms: nothing
// known, everything tried once).
func NewGate(p Perms) *Gate {
	return &Gate{perms: p, refused: map[Feature]*FeatureError{}, first: map[Feature]*gateProbe{}}
}

// closed returns why f may not be tried, or nil. g.mu must be held.
func (g *Gate) closed(f Feature) *FeatureError {
	if fe := g.refused[f]; fe != nil {
		return fe
	}
	switch p := g.perms.Get(f); p.Access {
	case AccessDenied:
		return &FeatureError{Feature: f, Why: p.Why, kind: ErrNotAllowed}
	case AccessMissing:
		return &FeatureError{Feature: f, Why: p.Why, kind: ErrUnavailable}
	}
	return nil
}

// Allowed reports whether f may be tried: not known to be denied or
// missing, and not refused yet this session.
func (g *Gate) Allowed(f Feature) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed(f) == nil
}

// Explain says why f is not allowed, "" when it is.
func (g *Gate) Explain(f Feature) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if fe := g.closed(f); fe != nil {
		return fe.Why
	}
	return ""
}

// Fail looks at a failure of f and returns the line to show. A refusal
// (NOPERM: "needs +config|get"; unknown command: "SLOWLOG is disabled or
// renamed on this server") closes the gate for f, and an unknown command
// for every feature of the same command. Anything else (a timeout, a lost
// connection) leaves the gate open and returns the error's text.
func (g *Gate) Fail(f Feature, err error) string {
	if err == nil {
		return ""
	}
	fe := refusal(f, err)
	if fe == nil {
		return err.Error()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refused[f] = fe
	if fe.kind == ErrUnavailable && fe.Why == missingWhy(f.command()) {
		for _, other := range Features {
			if other.command() == f.command() {
				g.refused[other] = fe
			}
		}
	}
	return fe.Why
}

// Do runs call for f unless the gate is closed, and closes it on a
// refusal. Until a call of f has succeeded (or Perms said it is allowed),
// calls of f run one at a time, so that concurrent callers cannot all be
// refused. A closed gate returns its *FeatureError (wrapping ErrNotAllowed
// or ErrUnavailable) without calling.
func (g *Gate) Do(f Feature, call func() error) error {
	g.mu.Lock()
	if fe := g.closed(f); fe != nil {
		g.mu.Unlock()
		return fe
	}
	probe := g.first[f]
	if probe == nil {
		probe = &gateProbe{confirmed: g.perms.Get(f).Access == AccessAllowed}
		g.first[f] = probe
	}
	g.mu.Unlock()

	probe.mu.Lock()
	if probe.confirmed {
		probe.mu.Unlock()
		return g.run(f, call)
	}
	defer probe.mu.Unlock()
	g.mu.Lock()
	fe := g.closed(f) // refused while this call waited
	g.mu.Unlock()
	if fe != nil {
		return fe
	}
	err := g.run(f, call)
	if err == nil {
		probe.confirmed = true
	}
	return err
}

func (g *Gate) run(f Feature, call func() error) error {
	err := call()
	if err == nil {
		return nil
	}
	g.Fail(f, err)
	if fe := refusal(f, err); fe != nil {
		return fe
	}
	return err
}
