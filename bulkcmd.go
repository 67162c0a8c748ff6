package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"redtop/conn"
	"redtop/keys"
)

func init() { subcommands["restore"] = runRestore }

const bulkUsage = `Usage:
  redtop [connection flags] keys delete PATTERN [flags]
      UNLINK every key matching PATTERN.
  redtop [connection flags] keys expire PATTERN TTL [flags]
      Give every key matching PATTERN a time to live (90s, 10m, 2h, 14d…).
  redtop [connection flags] keys persist PATTERN [flags]
      Remove the time to live of every key matching PATTERN.
  redtop [connection flags] restore FILE [--replace] [--yes] [--dry-run] [--json]
      Put back the keys a delete saved in its backup FILE, each with the
      TTL it had left; keys that exist again are skipped unless --replace
      (which, unless --yes, asks you to type the number of keys in FILE).
  redtop [connection flags] restore JOURNAL [--force] [--yes] [--dry-run] [--json]
      Undo an expire or persist run: put back the TTL each key had before
      it (what was left of it; none where it had none), once you type the
      number of keys in JOURNAL (unless --yes). Only keys that still have
      the TTL the run left are undone, each checked and written at once (a
      Lua script): keys whose TTL changed since (persisted, given another
      TTL, rewritten) are left alone and reported, unless --force. Keys
      gone since are reported; keys whose old TTL ran out since are left
      as they are.

First a preview (counted with SCAN, nothing changed): how many keys match,
a sample, their memory and TTLs (with --yes, estimated from 5% of the
keyspace). Then, unless --yes, type the pattern or the number of keys to
confirm (the number, when the pattern matches every key or more than half
of the database). Keys are checked against PATTERN again
client-side before each write; each batch is one round trip (an expire's
keys that already had a TTL take a second one, to record it for undo),
never resent: a batch whose reply does not come is reported "unknown".
Two batches are in flight at once, on two connections (one with --auto).
ctrl+c once stops after the batches in flight, twice aborts at once.

Every run, and every restore, writes a journal (JSON lines: each batch's
keys and outcome; for expire and persist, each key's TTL before the run)
to $XDG_STATE_HOME/redtop (~/.local/state/redtop). A delete also saves every
key (DUMP) to a backup file next to it, when the preview estimates under
1 GiB: each batch is saved and deleted in one transaction (MULTI/EXEC), so
the backup holds each key as it was when deleted.

Flags:
  --dry-run        preview only
  --yes            do not ask (required when stdin is not a terminal)
  --backup FILE    delete: save the keys to FILE before deleting them
  --no-backup      delete: no backup
  --rate N         at most N keys a second
  --auto           slow down while the server's latency is above --latency-target
  --latency-target D  for --auto (default 2ms)
  --batch N        keys per round trip (default 500)
  --json           print the preview and the report as one JSON object
  --force          restore JOURNAL: put the old TTLs back on keys changed
                   since the run too

On a Redis Cluster (-c, or found by itself) every master is worked on at
once (up to 4), each scanned and written on connections of its own, into
one journal (each line names its node) and one backup; --rate is for the
whole cluster. An UNLINK goes one command per hash slot; a command
answered MOVED or ASK (not run) is sent once to the node named. A master
that fails over mid-run is done again from the start on the master that
took its slots (keys already deleted are gone there: nothing counts
twice). restore sends each key to the master serving it.

PATTERN is a Redis glob: * ? [abc] [^a] [a-z], \ escapes one character.
Exit status: 0 when every key was handled, 1 when anything failed, ended
unknown or was not attempted, 2 for bad usage or a refused confirmation,
130 when stopped by ctrl+c.
`

// bulkEnv is what a bulk command reads from the process, so tests can
// stand in for a terminal and for ctrl+c.
type bulkEnv struct {
	stdin     io.Reader
	stdinTTY  bool
	stderrTTY bool
	signals   <-chan os.Signal // nil: the command listens to SIGINT and SIGTERM itself
}

func processEnv(stderr io.Writer) bulkEnv {
	env := bulkEnv{stdin: os.Stdin, stdinTTY: term.IsTerminal(int(os.Stdin.Fd()))}
	if f, ok := stderr.(*os.File); ok {
		env.stderrTTY = term.IsTerminal(int(f.Fd()))
	}
	return env
}

// runKeysDelete is `redtop … keys delete PATTERN`.
func runKeysDelete(ctx context.Context, app *App, args []string, stdout, stderr io.Writer) int {
	return runBulk(ctx, app, keys.OpDelete, args, processEnv(stderr), stdout, stderr)
}

// runKeysExpire is `redtop … keys expire PATTERN TTL`.
func runKeysExpire(ctx context.Context, app *App, args []string, stdout, stderr io.Writer) int {
	return runBulk(ctx, app, keys.OpExpire, args, processEnv(stderr), stdout, stderr)
}

// runKeysPersist is `redtop … keys persist PATTERN`.
func runKeysPersist(ctx context.Context, app *App, args []string, stdout, stderr io.Writer) int {
	return runBulk(ctx, app, keys.OpPersist, args, processEnv(stderr), stdout, stderr)
}

// runRestore is `redtop … restore FILE`.
func runRestore(ctx context.Context, app *App, args []string, stdout, stderr io.Writer) int {
	return restoreCmd(ctx, app, args, processEnv(stderr), stdout, stderr)
}

type bulkFlags struct {
	dryRun, yes, noBackup, auto, asJSON, help bool
	backup                                    string
	rate                                      float64
	batch                                     int
	latency                                   time.Duration
}

func runBulk(ctx context.Context, app *App, op keys.Op, args []string, env bulkEnv, stdout, stderr io.Writer) int {
	stderr = &lockedWriter{w: stderr} // progress and the ctrl+c handler both write to it
	name := "keys " + string(op)
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "redtop: %s: %s\n", name, fmt.Sprintf(format, a...))
		return code
	}
	var f bulkFlags
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&f.dryRun, "dry-run", false, "")
	fs.BoolVar(&f.yes, "yes", false, "")
	fs.StringVar(&f.backup, "backup", "", "")
	fs.BoolVar(&f.noBackup, "no-backup", false, "")
	fs.Float64Var(&f.rate, "rate", 0, "")
	fs.BoolVar(&f.auto, "auto", false, "")
	fs.DurationVar(&f.latency, "latency-target", keys.DefaultLatencyTarget, "")
	fs.IntVar(&f.batch, "batch", keys.DefaultBatch, "")
	fs.BoolVar(&f.asJSON, "json", false, "")
	fs.BoolVarP(&f.help, "help", "h", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, bulkUsage)
			return 0
		}
		return fail(2, "%v (see redtop keys %s --help)", err, op)
	}
	if f.help {
		fmt.Fprint(stdout, bulkUsage)
		return 0
	}
	want := 1
	if op == keys.OpExpire {
		want = 2
	}
	if fs.NArg() != want {
		if op == keys.OpExpire {
			return fail(2, "want PATTERN TTL, got %d arguments (quote the pattern so the shell leaves it alone)", fs.NArg())
		}
		return fail(2, "want one PATTERN, got %d arguments (quote the pattern so the shell leaves it alone)", fs.NArg())
	}
	opt := keys.BulkOptions{
		Op: op, Pattern: fs.Arg(0), Batch: f.batch, Rate: f.rate, Auto: f.auto, LatencyTarget: f.latency,
		Timeout: app.Target.Timeout, Target: app.Target.String(), Node: app.Target.Addr, Ledger: app.Ledger,
	}
	if err := keys.ValidatePattern(opt.Pattern); err != nil {
		return fail(2, "bad pattern: %v", err)
	}
	if op == keys.OpExpire {
		ttl, err := keys.ParseTTL(fs.Arg(1))
		if err != nil {
			return fail(2, "%v", err)
		}
		opt.TTL = ttl
	}
	switch {
	case f.backup != "" && f.noBackup:
		return fail(2, "--backup and --no-backup contradict each other")
	case op != keys.OpDelete && (f.backup != "" || f.noBackup):
		return fail(2, "--backup and --no-backup go with delete")
	case f.rate < 0:
		return fail(2, "--rate must be a number of keys a second, not %v", f.rate)
	case f.batch < 1 || f.batch > 100_000:
		return fail(2, "--batch must be between 1 and 100000, not %d", f.batch)
	case f.latency <= 0:
		return fail(2, "--latency-target must be more than zero")
	}
	if err := keys.ValidateBulk(opt); err != nil {
		return fail(2, "%v", err)
	}

	// On a cluster, every master.
	cl, err := openClusterIf(ctx, app)
	if err != nil {
		return fail(1, "%v", err)
	}
	defer cl.Close()

	// What the server lets us do, before asking anyone to confirm.
	var refusal error
	if app.Browse.readOnly {
		refusal = fmt.Errorf("%w: redtop runs with --readonly: nothing sent", keys.ErrReadOnly)
	} else {
		caps, err := probe(ctx, app, cl)
		if err != nil {
			return fail(1, "%v", conn.Explain(err, app.Target))
		}
		opt.Caps = &caps
		if caps.ReadOnly {
			refusal = fmt.Errorf("%w: nothing sent: %s", keys.ErrReadOnly, caps.ReadOnlyReason)
		} else if why := caps.Denied[map[keys.Op]string{keys.OpDelete: "unlink", keys.OpExpire: "pexpire", keys.OpPersist: "persist"}[op]]; why != "" {
			refusal = fmt.Errorf("%w: nothing sent: %s", keys.ErrDenied, why)
		}
	}
	if refusal != nil && !f.dryRun {
		return fail(1, "%v", refusal)
	}

	human := stdout
	if f.asJSON {
		human = stderr
	}
	prog := newProgressPrinter(stderr, env.stderrTTY)
	if f.yes && !f.dryRun {
		// Nobody confirms a count: estimate it from 5% of the keyspace
		// rather than spend on a full count the server time of the run's own
		// scan.
		opt.PreviewSample = 0.05
	}
	counting := func(p keys.PreviewProgress) {
		prog.line(fmt.Sprintf("counting: %s matching of %s scanned, %.0f%%%s", humanize.Comma(p.Matched), humanize.Comma(p.Scanned), 100*p.Fraction, nodeProgress(p.Nodes)))
	}
	var pv *keys.PreviewResult
	if cl != nil {
		pv, err = keys.PreviewCluster(ctx, cl, opt, counting)
	} else {
		pv, err = keys.Preview(ctx, app.Client, opt, counting)
	}
	prog.clear()
	switch {
	case err != nil && ctx.Err() != nil:
		return 130
	case err != nil:
		return fail(1, "preview: %v", conn.Explain(err, app.Target))
	}
	if op == keys.OpDelete {
		switch {
		case f.noBackup:
		case f.backup != "":
			opt.Backup, opt.BackupPath = true, f.backup
		default:
			opt.Backup = pv.BackupByDefault()
		}
	}
	where := fmt.Sprintf("in db %d", app.Target.DB)
	if cl != nil {
		where = fmt.Sprintf("on %d masters", len(pv.Nodes))
	}
	writePreview(human, op, opt, pv, where, f)
	if refusal != nil {
		fmt.Fprintf(human, "a real run would be refused: %v\n", refusal)
	}
	if f.dryRun {
		if f.asJSON {
			return writeJSON(stdout, stderr, map[string]any{"preview": pv, "dry_run": true})
		}
		return 0
	}
	if pv.Matched == 0 {
		if f.asJSON {
			return writeJSON(stdout, stderr, map[string]any{"preview": pv})
		}
		fmt.Fprintln(human, "nothing to do")
		return 0
	}
	if !f.yes {
		if !env.stdinTTY {
			return fail(2, "refusing to %s %s keys without confirmation: stdin is not a terminal (pass --yes to go ahead)", op, humanize.Comma(pv.Matched))
		}
		ok, code := confirm(ctx, env.stdin, stderr, op, pv)
		if !ok {
			return code
		}
	}

	runCtx, abort, stop := interrupts(ctx, env, stderr)
	defer stop()
	opt.Abort = abort
	progress := func(p keys.BulkProgress) {
		eta := ""
		if p.ETA > 0 {
			eta = ", ETA " + p.ETA.Round(time.Second).String()
		}
		pace := ""
		if p.CurrentDelay > 0 {
			pace = ", paced " + p.CurrentDelay.Round(100*time.Microsecond).String() + "/batch"
		}
		unk := ""
		if p.Unknown > 0 {
			unk = fmt.Sprintf(", %s unknown", humanize.Comma(p.Unknown))
		}
		prog.line(fmt.Sprintf("%s: %s of %s matched, %.0f%% scanned, %s keys/s%s%s%s%s", op,
			humanize.Comma(p.Done), humanize.Comma(p.Matched), 100*p.Fraction, humanize.Comma(int64(p.KeysPerSec)), unk, pace, eta, nodeProgress(p.Nodes)))
	}
	var rep *keys.BulkReport
	if cl != nil {
		rep, err = keys.RunBulkCluster(runCtx, cl, opt, progress)
	} else {
		writer := redis.NewClient(app.Target.WriterOptions())
		defer writer.Close()
		rep, err = keys.RunBulk(runCtx, app.Client, writer, opt, progress)
	}
	prog.clear()
	if rep == nil {
		return fail(1, "%v", conn.Explain(err, app.Target))
	}
	if f.asJSON {
		if code := writeJSON(stdout, stderr, map[string]any{"preview": pv, "report": rep}); code != 0 {
			return code
		}
	} else {
		writeBulkReport(stdout, rep)
	}
	switch {
	case rep.OK():
		return 0
	case rep.Stopped == "cancelled" && rep.Unknown == 0:
		fmt.Fprintf(stderr, "redtop: %s: stopped by request after %s keys; journal %s\n", name, humanize.Comma(rep.Applied+rep.AlreadyGone), rep.Journal)
		return 130
	}
	msg := rep.Error
	if msg == "" {
		msg = rep.Stopped
	}
	fmt.Fprintf(stderr, "redtop: %s: %s\n", name, msg)
	return 1
}

// interrupts turns the first ctrl+c (or SIGTERM, or ctx's end) into a
// gentle stop (the batches in flight finish) and the second into an abort.
func interrupts(ctx context.Context, env bulkEnv, stderr io.Writer) (context.Context, <-chan struct{}, func()) {
	sigs := env.signals
	var ch chan os.Signal
	if sigs == nil {
		ch = make(chan os.Signal, 2)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		sigs = ch
	}
	runCtx, cancel := context.WithCancel(ctx)
	abort := make(chan struct{})
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-done:
				return
			case <-sigs:
				n++
				if n == 1 {
					fmt.Fprintln(stderr, "\nstopping after the batches in flight (ctrl+c again to abort at once)")
					cancel()
				} else {
					fmt.Fprintln(stderr, "\naborting: the batches in flight end unknown")
					close(abort)
					return
				}
			}
		}
	}()
	return runCtx, abort, func() {
		close(done)
		if ch != nil {
			signal.Stop(ch)
		}
		cancel()
	}
}

// confirm asks for the pattern or the count to be typed. A pattern that
// matches everything or more than half of the database takes the count.
func confirm(ctx context.Context, stdin io.Reader, stderr io.Writer, op keys.Op, pv *keys.PreviewResult) (bool, int) {
	count := fmt.Sprint(pv.Matched)
	if pv.MatchesEverything || pv.OverHalf {
		fmt.Fprintf(stderr, "Type the number of keys (%s) to %s them: ", count, op)
	} else {
		fmt.Fprintf(stderr, "Type the pattern (%s) or the number of keys (%s) to %s them: ", keys.Escape(pv.Pattern), count, op)
	}
	got, ok := readLine(ctx, stdin)
	if !ok {
		fmt.Fprintln(stderr)
		return false, 130
	}
	got = strings.TrimRight(got, "\r\n")
	plain := strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(got), ",", ""), "_", "")
	if plain == count || (!pv.MatchesEverything && !pv.OverHalf && got == pv.Pattern) {
		return true, 0
	}
	fmt.Fprintln(stderr, "redtop: not confirmed: nothing changed")
	return false, 2
}

// probe finds what the server (on a cluster, every master) lets redtop do.
func probe(ctx context.Context, app *App, cl *keys.Cluster) (keys.Caps, error) {
	if cl != nil {
		return keys.ProbeCluster(ctx, cl)
	}
	return keys.Probe(ctx, app.Client, app.Target.Addr, app.Ledger)
}

// writePreview says what a run would touch; where is "in db 0", or "on 3
// masters".
func writePreview(w io.Writer, op keys.Op, opt keys.BulkOptions, pv *keys.PreviewResult, where string, f bulkFlags) {
	of := "an unknown number of"
	if pv.DBSize >= 0 {
		of = humanize.Comma(pv.DBSize)
	}
	size := ""
	switch {
	case pv.EstBytes > 0:
		size = ", ≈" + humanize.IBytes(uint64(pv.EstBytes))
	case pv.EstBytes < 0:
		size = ", memory unknown"
	}
	share := ""
	if pv.DBSize > 0 {
		share = fmt.Sprintf(" (%.1f%%)", 100*pv.Share)
	}
	matched := humanize.Comma(pv.Matched)
	if pv.Sampled {
		matched = "≈" + matched
		size += fmt.Sprintf(" (estimated from %.1f%% of the keyspace)", 100*pv.Fraction)
	}
	fmt.Fprintf(w, "%s: %s matches %s of %s keys %s%s%s\n", op, keys.Escape(opt.Pattern),
		matched, of, where, share, size)
	for _, n := range pv.Nodes {
		m := humanize.Comma(n.Matched)
		if n.Sampled {
			m = "≈" + m
		}
		fmt.Fprintf(w, "  %s: %s of %s keys\n", n.Now(), m, humanize.Comma(n.DBSize))
		for _, note := range n.Notes("the count") {
			fmt.Fprintf(w, "  note: %s\n", note)
		}
	}
	if pv.Matched > 0 {
		m := pv.TTL
		pct := func(n int64) string { return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(max(pv.Matched, 1))) }
		fmt.Fprintf(w, "  TTL: %s none, %s under 1h, %s under 1d, %s longer (from %s keys measured)\n",
			pct(m.None), pct(m.UnderHr), pct(m.UnderDay), pct(m.Longer), humanize.Comma(pv.Measured))
		names := make([]string, len(pv.Samples))
		for i, k := range pv.Samples {
			names[i] = keys.EscapeWidth(k, 40)
		}
		fmt.Fprintf(w, "  sample: %s\n", strings.Join(names, ", "))
	}
	for _, warn := range pv.Warnings {
		fmt.Fprintf(w, "  note: %s\n", warn)
	}
	if pv.MatchesEverything {
		fmt.Fprintf(w, "  WARNING: the pattern matches every key %s\n", where)
	} else if pv.OverHalf {
		fmt.Fprintln(w, "  WARNING: the pattern matches more than half of the database")
	}
	switch {
	case op == keys.OpExpire:
		fmt.Fprintf(w, "  each will expire in %s\n", keys.FormatTTL(opt.TTL))
	case op != keys.OpDelete:
	case opt.Backup && opt.BackupPath != "":
		fmt.Fprintf(w, "  backup: on, to %s\n", opt.BackupPath)
	case opt.Backup:
		fmt.Fprintln(w, "  backup: on, next to the journal (--no-backup to skip it)")
	case f.noBackup:
		fmt.Fprintln(w, "  backup: off (--no-backup)")
	case pv.EstBytes < 0:
		fmt.Fprintln(w, "  backup: off: the size is unknown (--backup FILE to make one)")
	default:
		fmt.Fprintf(w, "  backup: off: ≈%s is over the %s default limit (--backup FILE to make one)\n",
			humanize.IBytes(uint64(pv.EstBytes)), humanize.IBytes(keys.BackupLimit))
	}
}

func writeBulkReport(w io.Writer, rep *keys.BulkReport) {
	rate := ""
	if rep.KeysPerSec > 0 {
		rate = fmt.Sprintf(", %s keys/s", humanize.Comma(int64(rep.KeysPerSec)))
	}
	fmt.Fprintf(w, "%s %s keys matching %s in %s%s\n", rep.Op.Verb(), humanize.Comma(rep.Applied),
		keys.Escape(rep.Pattern), rep.Elapsed.Round(time.Millisecond), rate)
	line := fmt.Sprintf("  already gone: %s", humanize.Comma(rep.AlreadyGone))
	if rep.Op == keys.OpPersist {
		line += fmt.Sprintf(", had no TTL: %s", humanize.Comma(rep.Unchanged))
	}
	line += fmt.Sprintf(", unknown: %s, refused: %s, not attempted: %s",
		humanize.Comma(rep.Unknown), humanize.Comma(rep.Refused), humanize.Comma(rep.NotAttempted))
	fmt.Fprintln(w, line)
	if rep.Unknown > 0 {
		fmt.Fprintf(w, "  %s keys ended unknown: the server may or may not have %s them (journal: result \"unknown\"); they were not retried\n",
			humanize.Comma(rep.Unknown), rep.Op.Verb())
	}
	if rep.Stopped != "" {
		why := rep.Stopped
		if rep.Error != "" {
			why += ": " + rep.Error
		}
		fmt.Fprintf(w, "  stopped early (%s); keys the scan had not reached were not attempted\n", why)
	}
	if rep.Mismatched > 0 {
		fmt.Fprintf(w, "  %s keys SCAN returned did not match the pattern client-side and were left alone\n", humanize.Comma(rep.Mismatched))
	}
	if rep.Op == keys.OpExpire || rep.Op == keys.OpPersist {
		fmt.Fprintf(w, "  journal: %s (with each key's TTL before the run); undo with: redtop restore %s\n", rep.Journal, rep.Journal)
	} else {
		fmt.Fprintf(w, "  journal: %s\n", rep.Journal)
	}
	if rep.Backup != "" {
		fmt.Fprintf(w, "  backup: %s (%s keys, %s); undo with: redtop restore %s\n", rep.Backup,
			humanize.Comma(rep.BackupKeys), humanize.IBytes(uint64(rep.BackupBytes)), rep.Backup)
	}
	if len(rep.Nodes) > 0 {
		switch note := rep.ReshardNote(); {
		case note != "":
			fmt.Fprintf(w, "  %s\n", note)
		case slices.ContainsFunc(rep.Nodes, func(n keys.BulkNodeReport) bool { return n.Moved > 0 && len(n.Failovers) == 0 }):
			fmt.Fprintln(w, "  slots moved during the run (resharding?): keys that moved to a master already scanned were not reached; run it again to catch them")
		}
		fmt.Fprintf(w, "  %d masters, at once:\n", len(rep.Nodes))
		for _, n := range rep.Nodes {
			who := n.Now()
			if n.CatchUp {
				who += " (catch-up, resharded slots only)"
			}
			line := fmt.Sprintf("    %s: %s %s, already gone %s, unknown %s, refused %s, not attempted %s (scanned %s, matched %s)",
				who, rep.Op.Verb(), humanize.Comma(n.Applied), humanize.Comma(n.AlreadyGone), humanize.Comma(n.Unknown),
				humanize.Comma(n.Refused), humanize.Comma(n.NotAttempted), humanize.Comma(n.Scanned), humanize.Comma(n.Matched))
			if n.Moved > 0 {
				line += fmt.Sprintf(", %s sent again after MOVED/ASK", humanize.Comma(n.Moved))
			}
			if n.Stopped != "" {
				line += ", stopped: " + n.Stopped
			}
			fmt.Fprintln(w, line)
			for _, note := range n.Notes("the " + string(rep.Op)) {
				fmt.Fprintf(w, "    note: %s\n", note)
			}
		}
	}
	fmt.Fprintf(w, "  note: %s\n", rep.Note)
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil && !errors.Is(err, syscall.EPIPE) {
		fmt.Fprintf(stderr, "redtop: writing: %v\n", err)
		return 1
	}
	return 0
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// progressPrinter shows progress on stderr: one line rewritten in place
// at most ten times a second on a terminal, a line every two seconds
// otherwise (a log, a pipe).
type progressPrinter struct {
	w     io.Writer
	tty   bool
	last  time.Time
	shown bool
}

func newProgressPrinter(w io.Writer, tty bool) *progressPrinter {
	return &progressPrinter{w: w, tty: tty, last: time.Now()}
}

func (p *progressPrinter) line(s string) {
	every := 2 * time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	if time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s", s)
		p.shown = true
	} else {
		fmt.Fprintln(p.w, s)
	}
}

func (p *progressPrinter) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// readLine reads one line from stdin; false when ctx ends first (ctrl+c
// at the prompt). The read goes on in the background, as a terminal read
// cannot be cancelled; the process exits soon after.
func readLine(ctx context.Context, stdin io.Reader) (string, bool) {
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdin).ReadString('\n')
		line <- s
	}()
	select {
	case got := <-line:
		return got, true
	case <-ctx.Done():
		return "", false
	}
}

// confirmCount asks for a number to be typed.
func confirmCount(ctx context.Context, stdin io.Reader, stderr io.Writer, prompt string, n int64) (bool, int) {
	fmt.Fprint(stderr, prompt)
	got, ok := readLine(ctx, stdin)
	if !ok {
		fmt.Fprintln(stderr)
		return false, 130
	}
	plain := strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(got), ",", ""), "_", "")
	if plain == fmt.Sprint(n) {
		return true, 0
	}
	fmt.Fprintln(stderr, "redtop: not confirmed: nothing changed")
	return false, 2
}

// confirmUndo asks for the number of keys the undo of the journal at path
// looks at to be typed; without a terminal it refuses.
func confirmUndo(ctx context.Context, env bulkEnv, stderr io.Writer, path string, force bool) (bool, int) {
	n, op, err := keys.UndoCount(path)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "redtop: restore: %v\n", err)
		return false, 2
	case n == 0:
		return true, 0
	case !env.stdinTTY:
		fmt.Fprintf(stderr, "redtop: restore: refusing to undo the %s of %s keys without confirmation: stdin is not a terminal (pass --yes to go ahead)\n", op, humanize.Comma(n))
		return false, 2
	}
	what := "keys changed since the run are left alone"
	if force {
		what = "overwriting the TTLs of keys changed since the run (--force)"
	}
	return confirmCount(ctx, env.stdin, stderr, fmt.Sprintf("Type the number of keys in the journal (%d) to put back the TTLs they had before the %s; %s: ", n, op, what), n)
}

func writeRestoreReport(w io.Writer, path string, rep *keys.RestoreReport) {
	if rep.Undo != "" {
		verb := "put back the TTL of"
		if rep.DryRun {
			verb = "would put back the TTL of"
		}
		fmt.Fprintf(w, "undo %s: %s %s of %s keys from %s (pattern %s, run %s)\n", rep.Undo, verb, humanize.Comma(rep.Restored),
			humanize.Comma(rep.Keys), path, keys.Escape(rep.Header.Pattern), rep.Header.Created.Local().Format(time.DateTime))
		if rep.Changed > 0 {
			what := "left alone"
			if rep.Force {
				what = "their old TTL put back all the same (--force)"
			}
			fmt.Fprintf(w, "  changed since the run: %s: %s (e.g. %s)\n", what, humanize.Comma(rep.Changed), strings.Join(rep.ChangedKeys, ", "))
			if !rep.Force {
				fmt.Fprintln(w, "  (their TTL is no longer the one the run left: persisted, given another TTL, or rewritten; --force overwrites it)")
			}
		}
		fmt.Fprintf(w, "  gone since: %s, old TTL ran out since (left as they are): %s, failed: %s, unknown: %s, not attempted: %s\n",
			humanize.Comma(rep.Gone), humanize.Comma(rep.Expired), humanize.Comma(rep.Failed), humanize.Comma(rep.Unknown), humanize.Comma(rep.NotAttempted))
	} else {
		verb := "restored"
		if rep.DryRun {
			verb = "would restore"
		}
		fmt.Fprintf(w, "%s %s of %s keys from %s (pattern %s, saved %s)\n", verb, humanize.Comma(rep.Restored),
			humanize.Comma(rep.Keys), path, keys.Escape(rep.Header.Pattern), rep.Header.Created.Local().Format(time.DateTime))
		exist := "skipped"
		if rep.Replace {
			exist = "replaced"
		}
		fmt.Fprintf(w, "  existing (%s): %s, expired since (skipped): %s, failed: %s, unknown: %s, not attempted: %s\n", exist,
			humanize.Comma(rep.Existing), humanize.Comma(rep.Expired), humanize.Comma(rep.Failed), humanize.Comma(rep.Unknown), humanize.Comma(rep.NotAttempted))
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
	if rep.Journal != "" {
		fmt.Fprintf(w, "  journal: %s\n", rep.Journal)
	}
}

func restoreCmd(ctx context.Context, app *App, args []string, env bulkEnv, stdout, stderr io.Writer) int {
	stderr = &lockedWriter{w: stderr}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "redtop: restore: %s\n", fmt.Sprintf(format, a...))
		return code
	}
	fs := pflag.NewFlagSet("restore", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	replace := fs.Bool("replace", false, "")
	force := fs.Bool("force", false, "")
	yes := fs.Bool("yes", false, "")
	dryRun := fs.Bool("dry-run", false, "")
	asJSON := fs.Bool("json", false, "")
	help := fs.BoolP("help", "h", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, bulkUsage)
			return 0
		}
		return fail(2, "%v (see redtop restore --help)", err)
	}
	if *help {
		fmt.Fprint(stdout, bulkUsage)
		return 0
	}
	if fs.NArg() != 1 {
		return fail(2, "want one backup FILE or journal, got %d arguments", fs.NArg())
	}
	path := fs.Arg(0)
	kind, err := keys.FileKind(path)
	if err != nil {
		return fail(2, "%v", err)
	}
	if kind == "redtop-journal" && *replace {
		return fail(2, "--replace goes with a backup file, not a journal: an undo puts back TTLs only")
	}
	if kind != "redtop-journal" && *force {
		return fail(2, "--force goes with a journal (an undo), not a backup file: --replace overwrites keys that exist")
	}
	opt := keys.RestoreOptions{Replace: *replace, Force: *force, DryRun: *dryRun, Timeout: app.Target.Timeout,
		Target: app.Target.String(), Node: app.Target.Addr, Ledger: app.Ledger}
	cl, err := openClusterIf(ctx, app)
	if err != nil {
		return fail(1, "%v", err)
	}
	defer cl.Close()
	if !*dryRun {
		if app.Browse.readOnly {
			return fail(1, "%v: redtop runs with --readonly: nothing sent", keys.ErrReadOnly)
		}
		caps, err := probe(ctx, app, cl)
		if err != nil {
			return fail(1, "%v", conn.Explain(err, app.Target))
		}
		opt.Caps = &caps
		if caps.ReadOnly {
			return fail(1, "%v: nothing restored: %s", keys.ErrReadOnly, caps.ReadOnlyReason)
		}
	}
	if *replace && !*dryRun && !*yes {
		n, err := keys.CountBackup(path)
		if err != nil {
			return fail(2, "%v", err)
		}
		if !env.stdinTTY {
			return fail(2, "refusing to restore %s keys with --replace without confirmation: stdin is not a terminal (pass --yes to go ahead)", humanize.Comma(n))
		}
		if ok, code := confirmCount(ctx, env.stdin, stderr, fmt.Sprintf("Type the number of keys in the backup (%d) to restore them, overwriting the keys that exist: ", n), n); !ok {
			return code
		}
	}
	if kind == "redtop-journal" && !*dryRun && !*yes {
		if ok, code := confirmUndo(ctx, env, stderr, path, *force); !ok {
			return code
		}
	}
	runCtx, abort, stop := interrupts(ctx, env, stderr)
	defer stop()
	opt.Abort = abort
	prog := newProgressPrinter(stderr, env.stderrTTY)
	opt.Progress = func(r keys.RestoreReport) {
		changed := ""
		if r.Changed > 0 {
			changed = fmt.Sprintf(", %s changed since the run", humanize.Comma(r.Changed))
		}
		prog.line(fmt.Sprintf("restore: %s keys read, %s restored, %s existing, %s expired%s",
			humanize.Comma(r.Keys), humanize.Comma(r.Restored), humanize.Comma(r.Existing), humanize.Comma(r.Expired), changed))
	}
	var rep *keys.RestoreReport
	if cl != nil {
		rep, err = keys.RestoreCluster(runCtx, cl, path, opt)
	} else {
		writer := redis.NewClient(app.Target.WriterOptions())
		defer writer.Close()
		rep, err = keys.Restore(runCtx, writer, path, opt)
	}
	prog.clear()
	if rep == nil {
		return fail(1, "%v", conn.Explain(err, app.Target))
	}
	if *asJSON {
		if code := writeJSON(stdout, stderr, rep); code != 0 {
			return code
		}
	} else {
		writeRestoreReport(stdout, path, rep)
	}
	switch {
	case rep.OK():
		return 0
	case rep.Stopped == "cancelled" && rep.Unknown == 0:
		return 130
	}
	msg := rep.Error
	if msg == "" {
		msg = fmt.Sprintf("%d keys failed", rep.Failed)
	}
	fmt.Fprintf(stderr, "redtop: restore: %s\n", msg)
	return 1
}
