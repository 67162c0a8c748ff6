// Command redtop is a terminal dashboard for Redis.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"redtop/conn"
	"redtop/demo"
	"redtop/keys"
	"redtop/redisinfo"
	"redtop/ui"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

// options are redtop's own flags, besides the connection ones.
type options struct {
	conn     conn.Config
	interval time.Duration
	once     bool
	json     bool
	demo     bool
	help     bool
	version  bool
	browse   browseOptions
}

// browseOptions shape the key browser.
type browseOptions struct {
	delimiter    string
	keyPrefix    string
	readOnly     bool
	monitorLimit time.Duration
}

func main() {
	// go-redis logs dial failures to stderr, which would scribble over the
	// dashboard; redtop reports connection state itself.
	redis.SetLogger(quietLogger{})
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func newFlags(o *options, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet("redtop", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	// Flags after a subcommand ("keys scan P --type hash") are the
	// subcommand's own.
	fs.SetInterspersed(false)
	o.conn.Bind(fs)
	fs.DurationVar(&o.interval, "interval", time.Second, "time between polls (and between the two samples of --once)")
	fs.BoolVar(&o.once, "once", false, "sample twice, --interval apart, print the overview and exit (like top -b)")
	fs.BoolVar(&o.json, "json", false, "with --once: print one JSON object")
	fs.BoolVar(&o.demo, "demo", false, "start a private redis-server with a Django-like workload and watch it")
	fs.StringVar(&o.browse.delimiter, "delimiter", ":", "key browser: separator of key segments")
	fs.StringVar(&o.browse.keyPrefix, "key-prefix", "", "key browser: django-redis KEY_PREFIX:VERSION: that patterns are relative to (detected when not given)")
	fs.BoolVar(&o.browse.readOnly, "readonly", false, "never write: no TTL changes, deletes, CLIENT KILL or SLOWLOG RESET")
	fs.DurationVar(&o.browse.monitorLimit, "monitor-limit", time.Minute, "MONITOR pane: stop MONITOR after this long")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolVar(&o.help, "help", false, "print this help and exit")
	return fs
}

const usageHead = `redtop: a terminal dashboard for Redis.

Usage:
  redtop [connection flags] [--interval D]      live dashboard
  redtop [connection flags] --once [--json]     sample twice, print, exit
  redtop --demo                                 dashboard on a private demo server
  redtop [connection flags] keys scan|analyze|delete|expire|persist …   (redtop keys --help)
  redtop [connection flags] restore FILE [--replace]   put back the keys a delete saved
  redtop [connection flags] monitor [--duration D] [--json]   MONITOR summary (redtop monitor --help)

The password can also come from the REDISCLI_AUTH environment variable (the
sentinels' from REDTOP_SENTINEL_AUTH).
`

// usage lists every flag, connection flags first, like redis-cli's.
func usage(fs *pflag.FlagSet) string {
	var b strings.Builder
	b.WriteString(usageHead)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fs.VisitAll(func(f *pflag.Flag) {
		switch f.Name {
		case "host":
			fmt.Fprintln(tw, "\nConnection (as in redis-cli):")
		case "interval":
			fmt.Fprintln(tw, "\nredtop:")
		}
		name := "    --" + f.Name
		if f.Shorthand != "" {
			name = "-" + f.Shorthand + ", --" + f.Name
		}
		varname, text := pflag.UnquoteUsage(f)
		if f.Value.Type() != "bool" {
			name += " " + varname
		}
		if d := f.DefValue; d != "" && d != "false" && d != "0" {
			text += " (default " + d + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, text)
	})
	tw.Flush()
	return b.String()
}

func run(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	var o options
	fs := newFlags(&o, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, usage(fs))
			return 0
		}
		fmt.Fprintf(stderr, "redtop: %v (see redtop --help)\n", err)
		return 2
	}
	switch {
	case o.help:
		fmt.Fprint(stdout, usage(fs))
		return 0
	case o.version:
		fmt.Fprintln(stdout, "redtop", buildVersion())
		return 0
	case fs.NArg() > 0 && !isSubcommand(fs.Arg(0)):
		fmt.Fprintf(stderr, "redtop: unexpected argument %q (see redtop --help)\n", fs.Arg(0))
		return 2
	case o.interval < 100*time.Millisecond:
		fmt.Fprintln(stderr, "redtop: --interval must be at least 100ms")
		return 2
	case o.json && !o.once:
		fmt.Fprintln(stderr, "redtop: --json goes with --once")
		return 2
	}

	if fs.NArg() > 0 && wantsHelp(fs.Args()) {
		// A subcommand's help needs no server.
		return runSubcommand(context.Background(), nil, fs.Args(), stdout, stderr)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	var target conn.Target
	if o.demo {
		d, err := demo.Start(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "redtop: --demo: %v\n", err)
			return 1
		}
		defer d.Stop()
		target = d.Target()
	} else {
		t, warnings, err := o.conn.Resolve(os.Getenv, askPassword(stdin, stderr))
		for _, w := range warnings {
			fmt.Fprintln(stderr, w)
		}
		if err != nil {
			fmt.Fprintf(stderr, "redtop: %v\n", err)
			return 2
		}
		target = t
	}

	app, err := connect(ctx, target, o.interval)
	if err == nil {
		app.Browse = o.browse
	}
	if err != nil {
		fmt.Fprintf(stderr, "redtop: %v\n", err)
		return 1
	}
	defer app.Close()

	if fs.NArg() > 0 {
		return runSubcommand(ctx, app, fs.Args(), stdout, stderr)
	}
	if o.once {
		return app.once(ctx, o.json, stdout, stderr)
	}
	p := tea.NewProgram(app.Model(ctx), tea.WithContext(ctx), tea.WithInput(stdin), tea.WithOutput(stdout))
	if _, err := p.Run(); err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "redtop: %v\n", err)
		return 1
	}
	return 0
}

// App is redtop wired to one target: the same wiring serves the TUI, the
// batch mode and the end-to-end tests.
type App struct {
	Target   conn.Target
	Interval time.Duration
	Client   *redis.Client // the reading client (pooled, retries on)
	Ledger   *redisinfo.Ledger
	Poller   *redisinfo.Poller
	Browse   browseOptions
	// ClusterMasters is the number of masters found at start; 0 for a
	// single server.
	ClusterMasters int

	keys      *keySource
	switching *switchingKeys // through Sentinel: the browser's source, a.keys until a failover
	activity  *activitySource
	watcher   *redisinfo.ClusterWatcher // nil off a cluster
	stopWatch func()                    // ends follow's goroutine; nil when not started
	lost      bool                      // the last discovery failed (follow's goroutine only)
}

// connect opens the clients for a target and checks the server answers, so
// a wrong password or a refused port is one clear line before any screen.
func connect(ctx context.Context, t conn.Target, interval time.Duration) (*App, error) {
	t, err := resolveSentinel(ctx, t)
	if err != nil {
		return nil, err
	}
	// Every connection go-redis opens from t (and from its copies: cluster
	// nodes, the panes' and browser's clients) books its handshake.
	ledger := redisinfo.NewLedger()
	t.Handshake = ledger.Handshake
	client := redis.NewClient(t.Options())
	pctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		client.Close()
		return nil, conn.Explain(err, t)
	}
	ledger.Call(t.Addr, "ping", 1)
	app := &App{Target: t, Interval: interval, Client: client, Ledger: ledger}
	nodes, err := app.clusterNodes(pctx)
	if err != nil {
		client.Close()
		return nil, err
	}
	if nodes == nil { // a single server: a set of one node
		nodes = []redisinfo.Node{{Addr: t.Addr, Client: client}}
	}
	app.Poller = redisinfo.NewPoller(nodes, ledger, t.Timeout)
	if app.watcher != nil {
		app.Poller.WatchCluster()
	}
	app.followSentinel()
	return app, nil
}

// clusterRefresh is how often the dashboard asks a cluster for its nodes
// (one CLUSTER SHARDS and one CLUSTER NODES), besides right after a sign
// that they moved.
const clusterRefresh = 5 * time.Second

// clusterNodes returns every node, masters and replicas, when the target
// is a Redis Cluster (-c, or cluster_enabled:1 on the seed), and the
// watcher that follows them; nil otherwise. The overview sums over the
// masters (replicas hold copies); the replicas are in its nodes table.
//
// A user who may not run INFO gets the explained refusal here, at once:
// everything redtop shows starts with INFO, and asking again (the poll)
// would only add a second entry to the server's ACL LOG.
func (a *App) clusterNodes(ctx context.Context) ([]redisinfo.Node, error) {
	t := a.Target
	if !t.Cluster {
		text, err := a.Client.Info(ctx, "cluster").Result()
		if err != nil && strings.HasPrefix(err.Error(), "NOPERM") {
			return nil, conn.Explain(err, t)
		}
		if err != nil || !redisinfo.IsCluster(redisinfo.Parse(text)) {
			return nil, nil // not a cluster, or INFO failed otherwise: one node
		}
		a.Ledger.Call(t.Addr, "info", 1)
	}
	if t.DB != 0 {
		return nil, fmt.Errorf("%s is a Redis Cluster: it has only database 0 (drop -n %d)", t, t.DB)
	}
	found, err := redisinfo.DiscoverCluster(ctx, a.Client, t, a.Ledger)
	if err != nil {
		return nil, conn.Explain(err, t)
	}
	masters := redisinfo.Masters(found)
	if len(masters) == 0 {
		return nil, fmt.Errorf("%s: the cluster has no master with slots yet", t)
	}
	a.ClusterMasters = len(masters)
	a.watcher = redisinfo.NewClusterWatcher(t, found, clusterRefresh, a.Ledger)
	return redisinfo.NodesFor(t, found), nil
}

// follow keeps the poller on the cluster's nodes while the dashboard runs:
// the watcher re-discovers them every clusterRefresh, and at once when a
// poll shows a sign that they moved (clusterSource); each change becomes
// an event on the dashboard. Close stops it.
func (a *App) follow(ctx context.Context) {
	if a.watcher == nil || a.stopWatch != nil {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.watcher.Run(ctx, a.applyCluster)
	}()
	a.stopWatch = func() { cancel(); <-done }
}

// applyCluster takes one discovery: the poller's node set becomes the new
// one (nodes kept keep their connection), and each change is an event. A
// failed discovery is one event, not one per try.
func (a *App) applyCluster(u redisinfo.ClusterUpdate) {
	if u.Err != nil {
		if !a.lost {
			a.lost = true
			// One line: the error joins one per node asked.
			a.Poller.Note(redisinfo.Event{At: u.At, Level: redisinfo.Warn, Text: strings.ReplaceAll(u.Err.Error(), "\n", "; ")})
		}
		return
	}
	if a.lost {
		a.lost = false
		a.Poller.Note(redisinfo.Event{At: u.At, Level: redisinfo.OK, Text: "cluster discovery works again, via " + u.Seed})
	}
	a.Poller.SetNodes(redisinfo.UpdateNodes(a.Target, a.Poller.Nodes(), u.Nodes))
	for _, c := range u.Changes {
		a.Poller.Note(redisinfo.Event{At: u.At, Level: c.Level(), Text: c.String()})
	}
}

// clusterSource is the dashboard's info source on a cluster: the poller,
// each round read by the watcher for signs that the topology moved (a
// healthy node unreachable, a role that is not the cluster's view), which
// then re-discovers at once.
type clusterSource struct {
	poller  *redisinfo.Poller
	watcher *redisinfo.ClusterWatcher
}

func (c clusterSource) Poll(ctx context.Context) []redisinfo.NodeSample {
	samples := c.poller.Poll(ctx)
	c.watcher.Check(samples)
	return samples
}

// Model builds the dashboard's root model.
func (a *App) Model(ctx context.Context) *ui.Model {
	a.activity = newActivitySource(a, a.Browse.monitorLimit)
	a.onMasterSwitch(a.activity.retarget)
	target := a.targetLabel()
	var (
		src  ui.InfoSource = a.Poller
		seed string
	)
	if a.watcher != nil {
		a.follow(ctx)
		src, seed = clusterSource{a.Poller, a.watcher}, a.Target.Addr
	}
	// The key browser walks every master on a cluster (newKeySource reads
	// ClusterMasters). Clients, slow log and MONITOR show the seed node
	// until another is picked, and name it.
	a.keys = newKeySource(a, a.Browse)
	ks := ui.KeySource(a.keys)
	if a.Target.Sentinel != nil { // a failover moves the browser too
		a.switching = &switchingKeys{app: a, cur: a.keys}
		a.onMasterSwitch(a.switching.retarget)
		ks = a.switching
	}
	if a.ClusterMasters > 0 {
		target = "cluster via " + a.Target.String()
	}
	return ui.New(ctx, ui.Config{
		Source:    src,
		Target:    target,
		DB:        a.Target.DB,
		Interval:  a.Interval,
		Explain:   func(err error) string { return conn.Explain(err, a.target()).Error() },
		Keys:      ks,
		Delimiter: a.Browse.delimiter,
		KeyPrefix: a.Browse.keyPrefix,

		Activity:     a.activity,
		Glob:         keys.Match,
		MonitorLimit: a.Browse.monitorLimit,
		ReadOnly:     a.Browse.readOnly,
		Seed:         seed,
	})
}

// Close stops following the cluster and closes every client.
func (a *App) Close() error {
	if a.stopWatch != nil {
		a.stopWatch()
	}
	if a.watcher != nil {
		a.watcher.Close()
	}
	if a.switching != nil {
		a.switching.Close()
	} else if a.keys != nil {
		a.keys.Close()
	}
	if a.activity != nil {
		a.activity.Close()
	}
	if a.ClusterMasters > 0 {
		a.Client.Close() // the seed: not one of the poller's clients
	}
	return a.Poller.Close()
}

// once samples twice, an interval apart, and prints the overview.
func (a *App) once(ctx context.Context, asJSON bool, stdout, stderr io.Writer) int {
	tr := redisinfo.NewTracker(60)
	for i := 0; i < 2; i++ {
		if i == 1 {
			select {
			case <-time.After(a.Interval):
			case <-ctx.Done():
				return 130
			}
		}
		samples := a.Poller.Poll(ctx)
		failed := 0
		for _, s := range samples {
			if s.Err != nil {
				failed++
			}
		}
		if failed > 0 && failed == len(samples) {
			fmt.Fprintf(stderr, "redtop: %v\n", conn.Explain(samples[0].Err, a.Target))
			return 1
		}
		for _, s := range samples { // some nodes of a cluster: the others go on
			if s.Err != nil {
				fmt.Fprintf(stderr, "redtop: %s did not answer, left out: %v\n", s.Node, s.Err)
			}
		}
		tr.Add(samples)
	}
	rep := redisinfo.NewReport(tr.Add(nil))
	var err error
	if asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "redtop: %v\n", err)
		return 1
	}
	return 0
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// askPassword reads a password without echo from the terminal, like
// redis-cli --askpass.
func askPassword(stdin *os.File, stderr io.Writer) func() (string, error) {
	return func() (string, error) {
		f := stdin
		if !term.IsTerminal(int(f.Fd())) {
			tty, err := os.Open("/dev/tty")
			if err != nil {
				return "", errors.New("--askpass needs a terminal")
			}
			defer tty.Close()
			f = tty
		}
		fmt.Fprint(stderr, "Please input password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		return string(b), err
	}
}
