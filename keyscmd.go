package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/dustin/go-humanize"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"redtop/conn"
	"redtop/keys"
)

func init() { subcommands["keys"] = runKeys }

const keysUsage = `Usage:
  redtop [connection flags] keys scan [PATTERN] [--type T] [--count N] [--raw]
      List the keys matching PATTERN (default '*'), one a line, as SCAN
      returns them (a key can show twice if the keyspace is resized
      meanwhile). Names are escaped for the terminal (\n, \x1b, \xff, \\)
      unless --raw, which writes their exact bytes.
  redtop [connection flags] keys analyze [PATTERN] [--delimiter D] [--sample F] [--json] [--top N] [--count N]
      Group the keys by prefix, ids and random parts folded into '*', and
      show each group's keys, memory (MEMORY USAGE), share with a TTL and
      largest key, largest memory first. --sample 0.05 scans 5% of the
      keyspace and scales up, with standard errors. --json prints every
      prefix as a JSON object (bytes of a name that are not UTF-8 become
      U+FFFD there, as in any JSON string).

  redtop [connection flags] keys delete|expire|persist PATTERN …
      Act on every key matching PATTERN, after a preview and a typed
      confirmation, with a journal (and a backup for delete): see
      redtop keys delete --help.

On a Redis Cluster (-c, or found by itself), every master is scanned at
once (up to 4), each on its own connections; stderr names each master's
count, and analyze adds a table of the masters (with --json, an object:
prefixes, totals and "nodes"). A master that fails over mid-scan is
scanned again from the start on the master that took its slots, and
stderr says so (keys scan may then print some keys twice).

PATTERN is a Redis glob: * ? [abc] [^a] [a-z], \ escapes one character.
Exit status: 0 done, 1 the server failed or refused, 2 bad arguments.
`

// runKeys is `redtop … keys scan|analyze …`.
func runKeys(ctx context.Context, app *App, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	switch args[0] {
	case "scan":
		return keysScan(ctx, app, args[1:], stdout, stderr)
	case "analyze":
		return keysAnalyze(ctx, app, args[1:], stdout, stderr)
	case "delete":
		return runKeysDelete(ctx, app, args[1:], stdout, stderr)
	case "expire":
		return runKeysExpire(ctx, app, args[1:], stdout, stderr)
	case "persist":
		return runKeysPersist(ctx, app, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, keysUsage)
		return 0
	}
	fmt.Fprintf(stderr, "redtop: keys: unknown command %q: want scan, analyze, delete, expire or persist (see redtop keys --help)\n", args[0])
	return 2
}

// keysFlags parses a keys subcommand's flags and its one optional
// pattern. It returns an exit code to stop with, or -1 to go on.
func keysFlags(fs *pflag.FlagSet, name string, args []string, stdout, stderr io.Writer) (pattern string, code int) {
	fs.SetOutput(io.Discard)
	help := fs.Bool("help", false, "print this help and exit")
	if err := fs.Parse(args); err != nil && !errors.Is(err, pflag.ErrHelp) {
		fmt.Fprintf(stderr, "redtop: keys %s: %v (see redtop keys %s --help)\n", name, err, name)
		return "", 2
	} else if err != nil || *help {
		fmt.Fprintf(stdout, "%s\nFlags of keys %s:\n%s", keysUsage, name, flagList(fs))
		return "", 0
	}
	switch fs.NArg() {
	case 0:
		pattern = "*"
	case 1:
		pattern = fs.Arg(0)
	default:
		fmt.Fprintf(stderr, "redtop: keys %s: one pattern at most, got %d arguments (quote the pattern so the shell leaves it alone)\n", name, fs.NArg())
		return "", 2
	}
	if err := keys.ValidatePattern(pattern); err != nil {
		fmt.Fprintf(stderr, "redtop: keys %s: bad pattern: %v\n", name, err)
		return "", 2
	}
	return pattern, -1
}

// flagList lists a flag set like redtop --help does: no pflag bool noise.
func flagList(fs *pflag.FlagSet) string {
	var rows [][]string
	fs.VisitAll(func(f *pflag.Flag) {
		name, text := pflag.UnquoteUsage(f)
		flag := "--" + f.Name
		if f.Value.Type() != "bool" {
			flag += " " + name
		}
		if d := f.DefValue; d != "" && d != "false" && d != "0" {
			text += " (default " + d + ")"
		}
		rows = append(rows, []string{"  " + flag, text})
	})
	var b strings.Builder
	w := bufio.NewWriter(&b)
	writeColumns(w, rows, []bool{false, false})
	w.Flush()
	return b.String()
}

func keysScan(ctx context.Context, app *App, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("keys scan", pflag.ContinueOnError)
	typ := fs.String("type", "", "only keys of this type: string, list, set, zset, hash, stream")
	count := fs.Int64("count", keys.DefaultCount, "SCAN COUNT hint: keys the server looks at per call")
	raw := fs.Bool("raw", false, "write key names as their exact bytes, not escaped")
	pattern, code := keysFlags(fs, "scan", args, stdout, stderr)
	if code >= 0 {
		return code
	}
	if *typ != "" {
		t, err := keys.ValidateType(*typ)
		if err != nil {
			fmt.Fprintf(stderr, "redtop: keys scan: --type: %v\n", err)
			return 2
		}
		*typ = t
	}
	if *count < 1 {
		fmt.Fprintf(stderr, "redtop: keys scan: --count must be at least 1, not %d\n", *count)
		return 2
	}

	w := bufio.NewWriterSize(stdout, 64<<10)
	var werr error
	write := func(batch []string) error {
		for _, k := range batch {
			if !*raw {
				k = keys.Escape(k)
			}
			w.WriteString(k)
			w.WriteByte('\n')
		}
		// One write per batch: a pager or `| head` sees keys as they come.
		if werr = w.Flush(); werr != nil {
			return werr
		}
		return nil
	}
	opt := keys.ScanOptions{Match: pattern, Type: *typ, Count: *count, Timeout: app.Target.Timeout, Node: app.Target.Addr, Ledger: app.Ledger}
	var scanned int64
	var err error
	if app.ClusterMasters > 0 {
		scanned, err = keysScanCluster(ctx, app, opt, write, stderr)
	} else {
		var st keys.ScanStats
		st, err = keys.Scan(ctx, app.Client, opt, write)
		scanned = st.Scanned
		if st.Calls == 0 {
			scanned = -1
		}
	}
	if ferr := w.Flush(); werr == nil && ferr != nil {
		werr = ferr
	}
	switch {
	case werr != nil && errors.Is(werr, syscall.EPIPE):
		return 0 // the reader went away (| head): not an error
	case werr != nil:
		fmt.Fprintf(stderr, "redtop: keys scan: writing: %v\n", werr)
		return 1
	case err != nil && ctx.Err() != nil:
		return 130
	case err != nil && scanned >= 0:
		fmt.Fprintf(stderr, "redtop: keys scan: stopped after %d keys: %v\n", scanned, conn.Explain(err, app.Target))
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "redtop: keys scan: %v\n", conn.Explain(err, app.Target))
		return 1
	}
	return 0
}

// keysScanCluster scans every master; stderr gets a progress line on a
// terminal, the masters that failed over, and a line of counts per master.
// It returns the keys scanned, or -1 when no master answered a SCAN.
func keysScanCluster(ctx context.Context, app *App, opt keys.ScanOptions, write func([]string) error, stderr io.Writer) (int64, error) {
	cl, err := openCluster(ctx, app)
	if err != nil {
		return -1, err
	}
	defer cl.Close()
	progress, done := clusterProgressLine(stderr, "scanning")
	st, err := keys.ScanCluster(ctx, cl, opt, write, progress)
	done()
	for _, n := range st.Nodes {
		for _, note := range n.Notes("the scan") {
			fmt.Fprintf(stderr, "redtop: keys scan: %s (keys printed before may show twice)\n", note)
		}
	}
	if err == nil {
		more := ""
		if st.Repeated > 0 {
			more = fmt.Sprintf(" (plus %s printed before a failover, which may show twice)", humanize.Comma(st.Repeated))
		}
		fmt.Fprintf(stderr, "keys scan: %s keys from %d masters%s: %s\n", humanize.Comma(st.Scanned), len(st.Nodes), more, nodeCounts(st.Nodes))
	}
	var calls int64
	for _, n := range st.Nodes {
		calls += n.Calls
	}
	if calls == 0 {
		return -1, err
	}
	return st.Scanned + st.Repeated, err
}

func nodeCounts(nodes []keys.NodeScan) string {
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		parts[i] = n.Now() + " " + humanize.Comma(n.Scanned)
	}
	return strings.Join(parts, " · ")
}

// openCluster opens the masters of app's cluster for a keys command.
func openCluster(ctx context.Context, app *App) (*keys.Cluster, error) {
	cl, err := keys.OpenCluster(ctx, app.Client, app.Target, app.Ledger)
	if err != nil {
		return nil, conn.Explain(err, app.Target)
	}
	return cl, nil
}

// openClusterIf is openCluster when app's server is a cluster, else a nil
// Cluster (which Close accepts).
func openClusterIf(ctx context.Context, app *App) (*keys.Cluster, error) {
	if app.ClusterMasters <= 0 {
		return nil, nil
	}
	return openCluster(ctx, app)
}

// clusterProgressLine shows how far each master has gone, on stderr when
// it is a terminal, at most ten times a second. done clears the line.
func clusterProgressLine(stderr io.Writer, what string) (progress func(keys.ClusterProgress), done func()) {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, func() {}
	}
	var last time.Time
	shown := false
	progress = func(p keys.ClusterProgress) {
		if time.Since(last) < 100*time.Millisecond {
			return
		}
		last, shown = time.Now(), true
		fmt.Fprintf(f, "\r\x1b[K%s: %s keys, %.0f%%%s", what, humanize.Comma(p.Scanned()), 100*p.Fraction(), nodeProgress(p.Nodes))
	}
	return progress, func() {
		if shown {
			fmt.Fprint(f, "\r\x1b[K")
		}
	}
}

// nodeProgress is " · host:port 40%" per master, done ones marked so.
func nodeProgress(nodes []keys.NodeProgress) string {
	var b strings.Builder
	for _, n := range nodes {
		b.WriteString(" · " + n.Node + " ")
		if n.Done {
			b.WriteString("done")
		} else {
			fmt.Fprintf(&b, "%.0f%%", 100*n.Fraction)
		}
	}
	return b.String()
}

func keysAnalyze(ctx context.Context, app *App, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("keys analyze", pflag.ContinueOnError)
	delim := fs.String("delimiter", ":", "separator between the segments of key names")
	sample := fs.Float64("sample", 1, "share of the keyspace to scan, 0 < F <= 1; figures are scaled up, with standard errors")
	asJSON := fs.Bool("json", false, "print a JSON array of prefixes")
	top := fs.Int("top", 50, "table rows to print, largest memory first (0: all)")
	count := fs.Int64("count", keys.DefaultCount, "SCAN COUNT hint")
	pattern, code := keysFlags(fs, "analyze", args, stdout, stderr)
	if code >= 0 {
		return code
	}
	switch {
	case *delim == "":
		fmt.Fprintln(stderr, "redtop: keys analyze: --delimiter cannot be empty")
		return 2
	case !(*sample > 0 && *sample <= 1):
		fmt.Fprintf(stderr, "redtop: keys analyze: --sample must be a share in (0, 1], such as 0.05, not %v\n", *sample)
		return 2
	case *top < 0:
		fmt.Fprintf(stderr, "redtop: keys analyze: --top must be 0 (all) or more, not %d\n", *top)
		return 2
	case *count < 1:
		fmt.Fprintf(stderr, "redtop: keys analyze: --count must be at least 1, not %d\n", *count)
		return 2
	}

	opt := keys.AnalyzeOptions{
		Pattern: pattern, Delimiter: *delim, Sample: *sample, Count: *count,
		Timeout: app.Target.Timeout, Node: app.Target.Addr, Ledger: app.Ledger,
	}
	var rep *keys.Report
	var err error
	if app.ClusterMasters > 0 {
		rep, err = analyzeCluster(ctx, app, opt, *sample, stderr)
	} else {
		var done func()
		opt.Progress, done = progressLine(stderr, *sample)
		rep, err = keys.Analyze(ctx, app.Client, opt)
		done()
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return 130
	case err != nil:
		fmt.Fprintf(stderr, "redtop: keys analyze: %v\n", conn.Explain(err, app.Target))
		return 1
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(stderr, "redtop: keys analyze: %s\n", w)
	}
	for _, n := range rep.Nodes {
		for _, note := range n.Notes("the analysis") {
			fmt.Fprintf(stderr, "redtop: keys analyze: %s (its figures are from the new master alone)\n", note)
		}
	}
	if *asJSON {
		err = writeAnalyzeJSON(stdout, rep)
	} else {
		err = writeAnalyzeTable(stdout, rep, *top)
	}
	if err != nil && !errors.Is(err, syscall.EPIPE) {
		fmt.Fprintf(stderr, "redtop: keys analyze: writing: %v\n", err)
		return 1
	}
	return 0
}

// progressLine shows how far a long analysis has gone, on stderr when it
// is a terminal, at most ten times a second. done clears the line.
func progressLine(stderr io.Writer, sample float64) (progress func(keys.Progress), done func()) {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, func() {}
	}
	var last time.Time
	shown := false
	progress = func(p keys.Progress) {
		if time.Since(last) < 100*time.Millisecond {
			return
		}
		last, shown = time.Now(), true
		pct := 100 * p.Fraction() / sample
		fmt.Fprintf(f, "\r\x1b[Kanalyzing: %s keys, %.0f%%", humanize.Comma(p.Scanned), math.Min(pct, 100))
	}
	return progress, func() {
		if shown {
			fmt.Fprint(f, "\r\x1b[K")
		}
	}
}

// analyzeCluster analyzes every master at once, with a progress line per
// master on a terminal.
func analyzeCluster(ctx context.Context, app *App, opt keys.AnalyzeOptions, sample float64, stderr io.Writer) (*keys.Report, error) {
	cl, err := openCluster(ctx, app)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	progress, done := clusterProgressLine(stderr, "analyzing")
	if progress != nil && sample < 1 {
		p := progress
		progress = func(cp keys.ClusterProgress) {
			for i := range cp.Nodes {
				cp.Nodes[i].Fraction = min(1, cp.Nodes[i].Fraction/sample)
			}
			p(cp)
		}
	}
	rep, err := keys.AnalyzeCluster(ctx, cl, opt, progress)
	done()
	return rep, err
}

// writeAnalyzeJSON prints the prefixes as a JSON array; on a cluster, an
// object: the prefixes, the totals and each master's part.
func writeAnalyzeJSON(w io.Writer, rep *keys.Report) error {
	rows := rep.Prefixes
	if rows == nil {
		rows = []keys.PrefixStat{}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if rep.Nodes != nil {
		return enc.Encode(map[string]any{
			"prefixes": rows, "keys": int64(math.Round(rep.Keys.Value)), "memory_bytes": int64(math.Round(rep.Bytes.Value)),
			"scanned": rep.Scanned, "sampled": rep.Sampled, "dbsize": rep.DBSize, "elapsed_ns": rep.Elapsed, "nodes": rep.Nodes,
		})
	}
	return enc.Encode(rows)
}

func writeAnalyzeTable(w io.Writer, rep *keys.Report, top int) error {
	bw := bufio.NewWriter(w)
	if d := rep.Django; d != nil {
		fmt.Fprintf(bw, "django-redis layout: prefixes are shown without %s\n", keys.Escape(keys.QuoteGlob(d.Prefix)+":"+d.Version+":"))
	}
	rows := rep.Prefixes
	if top > 0 && len(rows) > top {
		rows = rows[:top]
	}
	bytes := func(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }
	pm := func(v int64, e float64, f func(int64) string) string {
		if !rep.Sampled {
			return f(v)
		}
		return "≈" + f(v) + " ±" + f(int64(math.Round(e)))
	}
	cells := [][]string{{"PREFIX", "KEYS", "MEMORY", "TTL", "LARGEST KEY", ""}}
	for _, p := range rows {
		name := p.Prefix
		if p.Relative != "" {
			name = p.Relative
		}
		ttl := "-"
		if p.Keys > 0 {
			ttl = fmt.Sprintf("%.0f%%", 100*p.TTLShare())
		}
		largest, size := "", ""
		if p.LargestKey != "" {
			largest, size = keys.EscapeWidth(p.LargestKey, 50), bytes(p.LargestBytes)
		}
		cells = append(cells, []string{keys.EscapeWidth(name, 60), pm(p.Keys, p.KeysError, humanize.Comma),
			pm(p.MemoryBytes, p.MemoryError, bytes), ttl, largest, size})
	}
	writeColumns(bw, cells, []bool{false, true, true, true, false, true})
	if more := len(rep.Prefixes) - len(rows); more > 0 {
		var k, b int64
		for _, p := range rep.Prefixes[len(rows):] {
			k += p.Keys
			b += p.MemoryBytes
		}
		fmt.Fprintf(bw, "… %d more prefixes (%s keys, %s): --top 0 or --json for all\n", more, humanize.Comma(k), bytes(b))
	}
	what := fmt.Sprintf("%s keys, %s", humanize.Comma(int64(math.Round(rep.Keys.Value))), bytes(int64(math.Round(rep.Bytes.Value))))
	if rep.Sampled {
		what = fmt.Sprintf("≈%s keys ±%s, ≈%s ±%s, from a %.1f%% sample (%s keys)",
			humanize.Comma(int64(math.Round(rep.Keys.Value))), humanize.Comma(int64(math.Round(rep.Keys.Error))),
			bytes(int64(math.Round(rep.Bytes.Value))), bytes(int64(math.Round(rep.Bytes.Error))),
			100*rep.Fraction, humanize.Comma(rep.Scanned))
	}
	fmt.Fprintf(bw, "total: %s in %d prefixes (%s)\n", what, len(rep.Prefixes), rep.Elapsed.Round(time.Millisecond))
	if len(rep.Nodes) > 0 {
		cells := [][]string{{"MASTER", "KEYS", "MEMORY", "SCANNED", "TIME"}}
		for _, n := range rep.Nodes {
			cells = append(cells, []string{n.Now(), humanize.Comma(n.Keys), bytes(n.Bytes), humanize.Comma(n.Scanned), n.Elapsed.Round(time.Millisecond).String()})
		}
		fmt.Fprintf(bw, "%d masters, at once:\n", len(rep.Nodes))
		writeColumns(bw, cells, []bool{false, true, true, true, true})
	}
	return bw.Flush()
}

// writeColumns pads cells to their column's width in terminal cells,
// right-aligned where right says so, two spaces apart.
func writeColumns(w *bufio.Writer, rows [][]string, right []bool) {
	widths := make([]int, len(right))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], ansi.StringWidth(c))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-ansi.StringWidth(c))
			if i > 0 {
				line.WriteString("  ")
			}
			if right[i] {
				line.WriteString(pad + c)
			} else {
				line.WriteString(c + pad)
			}
		}
		w.WriteString(strings.TrimRight(line.String(), " "))
		w.WriteByte('\n')
	}
}
