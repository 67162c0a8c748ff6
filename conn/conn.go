// Package conn turns redis-cli style flags and URIs into go-redis options,
// and connection failures into one clear line. Every client redtop opens is
// built here, so all of them name themselves, skip the handshakes that old
// servers count as errors, and carry deadlines.
package conn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/spf13/pflag"
)

// ClientName is what redtop's connections call themselves (CLIENT SETNAME).
const ClientName = "redtop"

// PasswordWarning is redis-cli's own warning, printed when a password comes
// from the command line.
const PasswordWarning = "Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe."

// Config holds the connection flags as the operator typed them.
type Config struct {
	Host     string
	Port     int
	Socket   string
	DB       int
	URI      string
	User     string
	Password string
	AskPass  bool
	TLS      bool
	CACert   string
	Cert     string
	Key      string
	SNI      string
	Insecure bool
	Timeout  time.Duration
	Cluster  bool

	// Sentinel flags: see sentinel.go.
	Sentinels    []string
	Master       string
	SentinelUser string
	SentinelPass string

	fs *pflag.FlagSet
}

// Bind registers the redis-cli compatible flags on fs.
func (c *Config) Bind(fs *pflag.FlagSet) {
	c.fs = fs
	fs.StringVarP(&c.Host, "host", "h", "127.0.0.1", "server hostname")
	fs.IntVarP(&c.Port, "port", "p", 6379, "server port")
	fs.StringVarP(&c.Socket, "socket", "s", "", "server unix socket (overrides host and port)")
	fs.IntVarP(&c.DB, "db", "n", 0, "database number")
	fs.StringVarP(&c.URI, "uri", "u", "", "server URI: redis://[user:pass@]host[:port][/db], rediss://…, unix:///path[?db=N]")
	fs.StringVar(&c.User, "user", "", "ACL username (needs a password)")
	fs.StringVarP(&c.Password, "pass", "a", "", "password (unsafe on the command line: prefer --askpass or REDISCLI_AUTH)")
	fs.BoolVar(&c.AskPass, "askpass", false, "prompt for the password on the terminal, without echo")
	fs.BoolVar(&c.TLS, "tls", false, "connect with TLS")
	fs.StringVar(&c.CACert, "cacert", "", "CA certificate file to verify the server with")
	fs.StringVar(&c.Cert, "cert", "", "client certificate file")
	fs.StringVar(&c.Key, "key", "", "client private key file")
	fs.StringVar(&c.SNI, "sni", "", "server name for TLS SNI and certificate checks")
	fs.BoolVar(&c.Insecure, "insecure", false, "skip TLS certificate verification (the only way to; also allows skip_verify=true in a URI)")
	fs.DurationVar(&c.Timeout, "timeout", 2*time.Second, "deadline for connecting and for each command")
	fs.BoolVarP(&c.Cluster, "cluster", "c", false, "Redis Cluster: watch every node (also automatic when the server has cluster_enabled:1)")
	c.bindSentinel(fs)
}

func (c *Config) changed(name string) bool {
	return c.fs != nil && c.fs.Changed(name)
}

// Target is a resolved server to talk to.
type Target struct {
	Network  string // "tcp" or "unix"
	Addr     string // host:port or socket path
	DB       int
	User     string
	Password string
	TLS      *tls.Config
	Timeout  time.Duration
	Cluster  bool // watch every master of a Redis Cluster
	// Sentinel, with --sentinel: Addr is the master the sentinels named
	// (empty until LocateMaster). Shared by copies of the Target: read only.
	Sentinel *Sentinel
	// Handshake, when set, is told about each new connection that go-redis
	// opens from Options (HELLO, SELECT when DB != 0, CLIENT SETNAME), so
	// redtop can count them as its own traffic.
	Handshake func(addr string, db int)
}

// String names the target for humans: never includes the password.
func (t Target) String() string {
	s := t.Addr
	if t.Network == "unix" {
		s = "unix:" + t.Addr
	}
	if t.TLS != nil {
		s = "tls:" + s
	}
	if t.User != "" && t.User != "default" {
		s = t.User + "@" + s
	}
	if t.Sentinel != nil {
		return t.Sentinel.describe(t.Addr, s)
	}
	return s
}

// ForNode is t pointed at another node of its cluster: same credentials,
// TLS and timeouts, by TCP, on database 0 (a cluster has no other).
func (t Target) ForNode(addr string) Target {
	t.Network, t.Addr, t.DB = "tcp", addr, 0
	return t
}

// Resolve applies URI, flags and the REDISCLI_AUTH environment variable, in
// redis-cli's order: a URI sets everything it names; flags given explicitly
// override it. It returns warnings to print (never containing a password).
// readPassword is called for --askpass.
func (c *Config) Resolve(getenv func(string) string, readPassword func() (string, error)) (Target, []string, error) {
	var warnings []string
	t := Target{Network: "tcp", Addr: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), DB: c.DB, Timeout: c.Timeout, Cluster: c.Cluster}
	if t.Timeout <= 0 {
		t.Timeout = 2 * time.Second
	}
	host := c.Host
	useTLS := c.TLS
	var insecureFromURI bool

	if c.URI != "" {
		o, insecure, err := parseURI(c.URI, c.Insecure)
		if err != nil {
			return t, nil, err
		}
		insecureFromURI = insecure
		t.Network, t.Addr, t.DB = o.Network, o.Addr, o.DB
		if o.Password != "" {
			warnings = append(warnings, PasswordWarning)
		}
		t.User, t.Password = o.Username, o.Password
		if o.TLSConfig != nil {
			useTLS = true
		}
		if h, _, err := net.SplitHostPort(o.Addr); err == nil {
			host = h
		}
	}
	if c.URI != "" && (c.changed("host") || c.changed("port")) {
		h, p, err := net.SplitHostPort(t.Addr)
		if t.Network != "tcp" || err != nil {
			// A unix:// URI has no host or port to keep: start from the flags.
			h, p = c.Host, strconv.Itoa(c.Port)
		}
		if c.changed("host") {
			h = c.Host
		}
		if c.changed("port") {
			p = strconv.Itoa(c.Port)
		}
		t.Network, t.Addr, host = "tcp", net.JoinHostPort(h, p), h
	}
	if c.Socket != "" {
		t.Network, t.Addr = "unix", c.Socket
	}
	if c.changed("db") {
		t.DB = c.DB
	}
	if c.DB < 0 || t.DB < 0 {
		return t, nil, fmt.Errorf("invalid database number %d", t.DB)
	}
	if c.User != "" {
		t.User = c.User
	}
	switch {
	case c.Password != "":
		t.Password = c.Password
		warnings = append(warnings, PasswordWarning)
	case c.AskPass:
		if readPassword == nil {
			return t, nil, errors.New("--askpass needs a terminal")
		}
		p, err := readPassword()
		if err != nil {
			return t, nil, fmt.Errorf("reading password: %v", err)
		}
		t.Password = p
	case t.Password == "" && getenv != nil && getenv("REDISCLI_AUTH") != "":
		t.Password = getenv("REDISCLI_AUTH")
	}
	if t.User != "" && t.Password == "" {
		return t, nil, fmt.Errorf("--user %s needs a password (-a, --askpass or REDISCLI_AUTH)", t.User)
	}
	if len(warnings) == 2 { // URI and -a both carried a password: say it once
		warnings = warnings[:1]
	}

	if err := c.resolveSentinel(&t, getenv, &warnings); err != nil {
		return t, nil, err
	}
	if t.Sentinel != nil {
		host = "" // the master is found later: check the name dialled
	}
	if useTLS || c.CACert != "" || c.Cert != "" || c.Key != "" {
		cfg, err := c.tlsConfig(host, insecureFromURI)
		if err != nil {
			return t, nil, err
		}
		t.TLS = cfg
	} else if c.Insecure {
		warnings = append(warnings, "Warning: --insecure has no effect without --tls")
	}
	return t, warnings, nil
}

// errSkipVerify refuses a URI that turns certificate checks off by itself.
var errSkipVerify = errors.New("refusing skip_verify=true in the URI: certificate checks can only be skipped with --insecure")

// parseURI reads a redis://, rediss:// or unix:// URI and reports whether it
// asked for skip_verify=true. Its errors never quote the user:password part:
// url.Parse and go-redis quote the piece they choke on, and a password with
// '/', '?' or '#' in it is read as a port or a path and quoted as such.
func parseURI(raw string, allowInsecure bool) (*redis.Options, bool, error) {
	o, insecure, err := parseURIUnsafe(raw, allowInsecure)
	if err == nil || errors.Is(err, errSkipVerify) {
		return o, insecure, err
	}
	redacted, ok := redactUserinfo(raw)
	if !ok {
		return nil, false, err
	}
	if _, _, err := parseURIUnsafe(redacted, true); err != nil {
		return nil, false, err // the same failure, found without the secret
	}
	return nil, false, errors.New("invalid URI: cannot read its user:password part " +
		"(percent-encode @ : / ? # and % in it, or give the password with --askpass)")
}

// parseURIUnsafe may quote any part of raw in its errors.
func parseURIUnsafe(raw string, allowInsecure bool) (*redis.Options, bool, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URI: keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, false, fmt.Errorf("invalid URI: %v", err)
	}
	var insecure bool
	q := u.Query()
	if v := q.Get("skip_verify"); v != "" {
		if b, _ := strconv.ParseBool(v); b {
			if !allowInsecure {
				return nil, false, errSkipVerify
			}
			insecure = true
		}
		q.Del("skip_verify")
		u.RawQuery = q.Encode()
	}
	o, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, false, fmt.Errorf("invalid URI: %s", strings.TrimPrefix(err.Error(), "redis: "))
	}
	return o, insecure, nil
}

// redactUserinfo replaces everything between "://" and the last '@' (where
// a password would be, whatever characters it holds) with a placeholder.
func redactUserinfo(raw string) (string, bool) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw, false
	}
	rest := raw[i+len("://"):]
	j := strings.LastIndex(rest, "@")
	if j < 0 {
		return raw, false
	}
	return raw[:i+len("://")] + "user:redacted@" + rest[j+1:], true
}

func (c *Config) tlsConfig(host string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if c.SNI != "" {
		cfg.ServerName = c.SNI
	}
	if c.CACert != "" {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificate found", c.CACert)
		}
		cfg.RootCAs = pool
	}
	if (c.Cert == "") != (c.Key == "") {
		return nil, errors.New("--cert and --key go together")
	}
	if c.Cert != "" {
		pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if c.Insecure || insecure {
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}

// Options are go-redis options for a reading client: a small pool, retries
// on, deadlines on every call, named, and without the CLIENT SETINFO and
// maintenance-notification handshakes that Redis 7.0 counts as errors.
func (t Target) Options() *redis.Options {
	o := &redis.Options{
		Network:                  t.Network,
		Addr:                     t.Addr,
		DB:                       t.DB,
		Username:                 t.User,
		Password:                 t.Password,
		TLSConfig:                t.TLS,
		ClientName:               ClientName,
		Protocol:                 2, // RESP2 replies; go-redis still opens with HELLO 2 AUTH … SETNAME, fine from Redis 6.0
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		DialTimeout:              t.Timeout,
		ReadTimeout:              t.Timeout,
		WriteTimeout:             t.Timeout,
		ContextTimeoutEnabled:    true,
		PoolSize:                 4,
		MinIdleConns:             0,
		MaxRetries:               1,
		DialerRetries:            1, // go-redis dials 5 times by default: Timeout must bound connecting
		MinRetryBackoff:          50 * time.Millisecond,
		MaxRetryBackoff:          200 * time.Millisecond,
	}
	if t.TLS != nil {
		o.TLSConfig = t.TLS.Clone()
		o.Dialer = tlsDialer(o.TLSConfig, t.Timeout)
	}
	if h := t.Handshake; h != nil {
		o.OnConnect = bookHandshake(o, h)
	}
	return o
}

// bookHandshake is the OnConnect hook of a target with a Handshake. It
// reads o.Addr and o.DB when it runs: a cluster node's options are a
// target's with the address replaced. Not inlined: an inlined copy would
// make closures with other code, and OnlyBooks compares the code.
//
//go:noinline
func bookHandshake(o *redis.Options, h func(string, int)) func(context.Context, *redis.Conn) error {
	return func(context.Context, *redis.Conn) error {
		h(o.Addr, o.DB)
		return nil
	}
}

// bookingHook is the code of bookHandshake's hooks (closures of one
// literal share it).
var bookingHook = reflect.ValueOf(bookHandshake(&redis.Options{}, func(string, int) {})).Pointer()

// OnlyBooks reports whether o's OnConnect hook, if any, only books the
// handshake (Target.Handshake): a raw connection that sends and books its
// own handshake may ignore it, where another hook (CLIENT NO-TOUCH, say)
// would have to be reproduced.
func OnlyBooks(o *redis.Options) bool {
	return o.OnConnect == nil || reflect.ValueOf(o.OnConnect).Pointer() == bookingHook
}

// WriterOptions are for the client that sends writes (UNLINK, EXPIRE…):
// retries off, so a write that timed out is never sent twice.
func (t Target) WriterOptions() *redis.Options {
	o := t.Options()
	o.MaxRetries = -1
	o.PoolSize = 1
	return o
}
