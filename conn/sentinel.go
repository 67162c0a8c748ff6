package conn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"
)

// DefaultSentinelPort is where a Sentinel listens unless told otherwise.
const DefaultSentinelPort = 26379

// SentinelAuthEnv holds the sentinels' password, as REDISCLI_AUTH holds
// the server's: the safe alternative to --sentinel-pass.
const SentinelAuthEnv = "REDTOP_SENTINEL_AUTH"

// Sentinel is how to find a master through Redis Sentinel.
type Sentinel struct {
	Master   string   // the name the sentinels monitor it by
	Addrs    []string // host:port of each sentinel, in the order given
	User     string   // for the sentinels: none by default
	Password string
}

// String names the master and its sentinels, never the password:
// "mymaster via sentinel 127.0.0.1:26379".
func (s *Sentinel) String() string {
	word := "sentinel"
	if len(s.Addrs) > 1 {
		word = "sentinels"
	}
	return s.Master + " via " + word + " " + strings.Join(s.Addrs, ",")
}

// describe adds the master's address when known.
func (s *Sentinel) describe(addr, master string) string {
	if addr == "" {
		return s.String()
	}
	return s.String() + " (master " + master + ")"
}

// sentinelList is --sentinel: repeatable, each value also comma-separated,
// and with an empty default so --help shows none.
type sentinelList struct{ v *[]string }

func (l sentinelList) String() string { return strings.Join(*l.v, ",") }
func (l sentinelList) Type() string   { return "HOST:PORT" }
func (l sentinelList) Set(v string) error {
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			*l.v = append(*l.v, a)
		}
	}
	return nil
}

func (c *Config) bindSentinel(fs *pflag.FlagSet) {
	fs.Var(sentinelList{&c.Sentinels}, "sentinel", "find the master through the Sentinel at `HOST:PORT` and follow its failovers (repeatable, or comma-separated; needs --master)")
	fs.StringVar(&c.Master, "master", "", "with --sentinel: the `NAME` the sentinels monitor the master by")
	fs.StringVar(&c.SentinelUser, "sentinel-user", "", "ACL username for the sentinels (default: none)")
	fs.StringVar(&c.SentinelPass, "sentinel-pass", "", "password for the sentinels (default: none; prefer "+SentinelAuthEnv+")")
}

// resolveSentinel checks the Sentinel flags against the others and sets
// t.Sentinel. The master's own flags (-a, --user, -n, --tls…) still apply
// to the master; -h, -p, -s and -u would name a server, which is the
// sentinels' job.
func (c *Config) resolveSentinel(t *Target, getenv func(string) string, warnings *[]string) error {
	if len(c.Sentinels) == 0 {
		switch {
		case c.Master != "":
			return errors.New("--master goes with --sentinel HOST:PORT (the sentinels find the master by that name)")
		case c.SentinelUser != "" || c.SentinelPass != "":
			return errors.New("--sentinel-user and --sentinel-pass go with --sentinel")
		}
		return nil
	}
	switch {
	case c.Master == "":
		return errors.New("--sentinel needs --master NAME: the name in the sentinels' 'sentinel monitor NAME …'")
	case c.Cluster:
		return errors.New("--sentinel and --cluster do not go together: Sentinel watches one master and its replicas, not a Redis Cluster")
	case c.changed("host") || c.changed("port") || c.Socket != "" || c.URI != "":
		return errors.New("--sentinel finds the master's address: drop -h, -p, -s and -u (the master's password and database still come from -a/--askpass/REDISCLI_AUTH, --user and -n)")
	}
	s := &Sentinel{Master: c.Master, User: c.SentinelUser, Password: c.SentinelPass}
	for _, a := range c.Sentinels {
		addr, err := sentinelAddr(a)
		if err != nil {
			return err
		}
		if !slices.Contains(s.Addrs, addr) {
			s.Addrs = append(s.Addrs, addr)
		}
	}
	switch {
	case s.Password != "":
		if !slices.Contains(*warnings, PasswordWarning) {
			*warnings = append(*warnings, PasswordWarning)
		}
	case getenv != nil:
		s.Password = getenv(SentinelAuthEnv)
	}
	if s.User != "" && s.Password == "" {
		return fmt.Errorf("--sentinel-user %s needs a password (--sentinel-pass or %s)", s.User, SentinelAuthEnv)
	}
	t.Sentinel = s
	t.Network, t.Addr = "tcp", ""
	return nil
}

// sentinelAddr checks one --sentinel value; a bare host gets port 26379.
func sentinelAddr(a string) (string, error) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return net.JoinHostPort(a, strconv.Itoa(DefaultSentinelPort)), nil
		}
		return "", fmt.Errorf("--sentinel %q: want HOST:PORT", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
		return "", fmt.Errorf("--sentinel %q: want HOST:PORT", a)
	}
	return a, nil
}

// SentinelTarget is how to talk to one of t's sentinels: its own
// credentials, t's TLS settings (as redis-cli applies --tls to every
// connection) and timeout, database 0.
func (t Target) SentinelTarget(addr string) Target {
	st := Target{Network: "tcp", Addr: addr, TLS: t.TLS, Timeout: t.Timeout}
	if t.Sentinel != nil {
		st.User, st.Password = t.Sentinel.User, t.Sentinel.Password
	}
	return st
}

// SentinelOptions are go-redis options for asking a sentinel: one
// connection, named, without the handshakes old servers count as errors.
func (t Target) SentinelOptions(addr string) *redis.Options {
	o := t.SentinelTarget(addr).Options()
	o.PoolSize = 1
	return o
}

// WithAddr is t pointed at another address of the same deployment (the
// master Sentinel moved to): same credentials, database, TLS and timeout.
func (t Target) WithAddr(addr string) Target {
	t.Network, t.Addr = "tcp", addr
	return t
}

// sentinelMaster is what one sentinel says about the master.
type sentinelMaster struct {
	Sentinel string   // the sentinel that answered
	Addr     string   // host:port clients should use (GET-MASTER-ADDR-BY-NAME)
	Flags    []string // SENTINEL MASTER flags: master, s_down, o_down, …
}

// Down reports whether the sentinel sees the master down.
func (m sentinelMaster) Down() bool {
	return slices.Contains(m.Flags, "s_down") || slices.Contains(m.Flags, "o_down")
}

// askSentinel asks one sentinel where the master is and how it sees it,
// in one round trip. A sentinel that does not know the name answers
// ErrUnknownMaster.
func askSentinel(ctx context.Context, c *redis.Client, name string) (sentinelMaster, error) {
	var m sentinelMaster
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "sentinel", "get-master-addr-by-name", name)
		p.Do(ctx, "sentinel", "master", name)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		for _, cmd := range cmds {
			if e := cmd.Err(); e != nil && !errors.Is(e, redis.Nil) {
				err = e
				break
			}
		}
		if isUnknownMaster(err) {
			return m, ErrUnknownMaster
		}
		return m, err
	}
	addr, err := cmds[0].(*redis.Cmd).StringSlice()
	if errors.Is(err, redis.Nil) || err == nil && len(addr) != 2 {
		return m, ErrUnknownMaster
	}
	if err != nil {
		return m, err
	}
	m.Addr = net.JoinHostPort(addr[0], addr[1])
	fields := Pairs(cmds[1].(*redis.Cmd).Val())
	m.Flags = strings.Split(fields["flags"], ",")
	return m, nil
}

// ErrUnknownMaster: the sentinel monitors no master by that name.
var ErrUnknownMaster = errors.New("no master by that name")

func isUnknownMaster(err error) bool {
	return err != nil && strings.Contains(err.Error(), "No such master with that name")
}

// Pairs reads a SENTINEL MASTER-style reply: a flat field/value array in
// RESP2, a map in RESP3.
func Pairs(v any) map[string]string {
	out := map[string]string{}
	switch v := v.(type) {
	case []any:
		for i := 0; i+1 < len(v); i += 2 {
			out[fmt.Sprint(v[i])] = fmt.Sprint(v[i+1])
		}
	case map[any]any:
		for k, x := range v {
			out[fmt.Sprint(k)] = fmt.Sprint(x)
		}
	case map[string]any:
		for k, x := range v {
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}

// LocateMaster asks t's sentinels in turn where the master is: the first
// that knows the name and sees the master up wins. It then checks that the
// server there is a master, and returns t with Addr set. Every failure is
// one line naming the sentinels asked.
func LocateMaster(ctx context.Context, t Target) (Target, error) {
	s := t.Sentinel
	if s == nil {
		return t, nil
	}
	var (
		failures []string
		unknown  []string // sentinels that do not know the name
		down     string   // the first sentinel's word that the master is down
	)
	for _, a := range s.Addrs {
		if ctx.Err() != nil {
			break
		}
		m, err := askOne(ctx, t, a)
		switch {
		case errors.Is(err, ErrUnknownMaster):
			unknown = append(unknown, a)
			continue
		case err != nil:
			failures = append(failures, explainSentinel(err, t.SentinelTarget(a)))
			continue
		case m.Down():
			if down == "" {
				down = fmt.Sprintf("sentinel %s says master %q (%s) is down (%s)", a, s.Master, m.Addr, strings.Join(m.Flags, ","))
			}
			continue
		}
		mt := t.WithAddr(m.Addr)
		return mt, checkMaster(ctx, mt, a)
	}
	switch {
	case down != "":
		return t, errors.New(down + ": a failover may be under way; try again in a few seconds")
	case len(unknown) > 0 && len(failures) == 0:
		return t, unknownMasterError(ctx, t, unknown)
	case len(unknown) > 0:
		failures = append(failures, fmt.Sprintf("%s: no master named %q", strings.Join(unknown, ","), s.Master))
	}
	return t, fmt.Errorf("no sentinel could locate master %q: %s", s.Master, strings.Join(failures, "; "))
}

func askOne(ctx context.Context, t Target, addr string) (sentinelMaster, error) {
	c := redis.NewClient(t.SentinelOptions(addr))
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	m, err := askSentinel(ctx, c, t.Sentinel.Master)
	m.Sentinel = addr
	return m, err
}

// unknownMasterError names the masters the first sentinel does monitor,
// the likely fix for a typo.
func unknownMasterError(ctx context.Context, t Target, asked []string) error {
	msg := fmt.Sprintf("no master named %q at sentinel %s", t.Sentinel.Master, strings.Join(asked, ","))
	c := redis.NewClient(t.SentinelOptions(asked[0]))
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	v, err := c.Do(ctx, "sentinel", "masters").Slice()
	if err != nil {
		return errors.New(msg)
	}
	var names []string
	for _, m := range v {
		if n := Pairs(m)["name"]; n != "" {
			names = append(names, strconv.Quote(n))
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return errors.New(msg + " (it monitors none)")
	}
	return fmt.Errorf("%s (it monitors %s)", msg, strings.Join(names, ", "))
}

// checkMaster asks the server the sentinel named for its role: ROLE, or
// INFO replication where ROLE is not allowed.
func checkMaster(ctx context.Context, t Target, sentinel string) error {
	c := redis.NewClient(t.Options())
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	role, master, err := serverRole(ctx, c)
	if err != nil {
		return Explain(err, t)
	}
	switch role {
	case "master":
		return nil
	case "slave":
		return fmt.Errorf("sentinel %s names %s as master %q, but that server is a replica of %s: a failover may be under way; try again in a few seconds",
			sentinel, t.Addr, t.Sentinel.Master, master)
	}
	return fmt.Errorf("sentinel %s names %s as master %q, but that server's role is %q", sentinel, t.Addr, t.Sentinel.Master, role)
}

func serverRole(ctx context.Context, c *redis.Client) (role, master string, err error) {
	v, err := c.Do(ctx, "role").Slice()
	if err == nil && len(v) > 0 {
		role = fmt.Sprint(v[0])
		if role == "slave" && len(v) > 2 {
			master = net.JoinHostPort(fmt.Sprint(v[1]), fmt.Sprint(v[2]))
		}
		return role, master, nil
	}
	var rerr redis.Error
	if err != nil && !errors.As(err, &rerr) {
		return "", "", err // the server did not answer
	}
	text, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return "", "", err
	}
	f := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			f[k] = v
		}
	}
	if f["role"] == "slave" {
		master = net.JoinHostPort(f["master_host"], f["master_port"])
	}
	return f["role"], master, nil
}

// ExplainSentinel is Explain for a failure talking to t's sentinel at
// addr: one line that names the sentinel and the flags that fix it.
func ExplainSentinel(err error, t Target, addr string) error {
	return errors.New(explainSentinel(err, t.SentinelTarget(addr)))
}

func explainSentinel(err error, st Target) string {
	where := "sentinel " + st.Addr
	msg := err.Error()
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg = rerr.Error()
	}
	switch {
	case strings.HasPrefix(msg, "NOAUTH"), strings.Contains(msg, "Authentication required"):
		return where + " requires a password: give it with " + SentinelAuthEnv + " or --sentinel-pass"
	case strings.HasPrefix(msg, "WRONGPASS"):
		return where + ": authentication failed (--sentinel-user, --sentinel-pass or " + SentinelAuthEnv + ")"
	case strings.Contains(msg, "without any password configured"):
		return where + " has no password set, but one was given: drop --sentinel-pass/" + SentinelAuthEnv
	case strings.Contains(msg, "unknown command") && strings.Contains(strings.ToLower(msg), "sentinel"):
		return st.Addr + " is not a Sentinel (it does not know SENTINEL commands): give the sentinels' address, usually port " + strconv.Itoa(DefaultSentinelPort)
	case errors.Is(err, syscall.ECONNREFUSED):
		return where + ": connection refused"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("%s: no answer within %v", where, st.Timeout)
	}
	e := Explain(err, st).Error()
	if strings.HasPrefix(e, st.String()) {
		return "sentinel " + e
	}
	return "sentinel: " + e
}
