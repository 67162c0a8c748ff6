package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/pflag"

	"redtop/keys"
	"redtop/redisinfo"
)

func init() { subcommands["monitor"] = runMonitor }

const monitorUsage = `Usage:
  redtop [connection flags] monitor [--duration 10s] [--json] [--limit-omem 1MB] [--top N]
      Watch every command the server runs (MONITOR) for --duration, then
      print the busiest commands, key patterns (the first key of each
      command, ids and random parts folded into '*'), clients and hot keys,
      with the lines seen and dropped and why the watch ended.

MONITOR costs the server throughput (often half of it under load) and
shows every argument, values included (Redis hides only AUTH and HELLO
passwords). The watch ends early when the server holds more than
--limit-omem of output for it: redtop is not keeping up, and the server's
memory would grow. Hot keys are counts of the lines redtop kept, not of
every access. Key names are escaped (\n, \x1b, \xff); in --json they are
raw strings (bytes that are not UTF-8 become U+FFFD).
Exit status: 0 done (whatever ended the watch), 1 MONITOR could not start,
2 bad arguments.
`

// monitorReport is what `redtop monitor` prints, as JSON with --json.
type monitorReport struct {
	Target       string       `json:"target"`
	Seconds      float64      `json:"seconds"`
	EndReason    string       `json:"end_reason"`
	Seen         int64        `json:"lines_seen"`
	Counted      int64        `json:"lines_counted"`
	Dropped      int64        `json:"lines_dropped"`
	Malformed    int64        `json:"lines_malformed"`
	PerSec       float64      `json:"lines_per_sec"`
	OmemPeak     int64        `json:"omem_peak_bytes"`
	OmemLimit    int64        `json:"omem_limit_bytes"`
	OmemNote     string       `json:"omem_note,omitempty"`
	Commands     []monitorRow `json:"commands"`
	Patterns     []monitorRow `json:"key_patterns"`
	Clients      []monitorRow `json:"clients"`
	HotKeys      []monitorRow `json:"hot_keys"`
	HotKeysLabel string       `json:"hot_keys_label"`
}

type monitorRow struct {
	Name   string  `json:"name"`
	Count  int64   `json:"count"`
	PerSec float64 `json:"per_sec"`
	Share  float64 `json:"share"`
}

func runMonitor(ctx context.Context, app *App, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("monitor", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	duration := fs.Duration("duration", 10*time.Second, "how long to watch")
	asJSON := fs.Bool("json", false, "print one JSON object")
	limit := fs.String("limit-omem", "1MB", "end early when the server holds more output than this for MONITOR (redis.conf units: 1MB = 1 MiB, 1m = 10^6; 0: no limit)")
	topN := fs.Int("top", 10, "rows per table")
	delim := fs.String("delimiter", ":", "separator of key segments, for the key patterns")
	help := fs.Bool("help", false, "print this help and exit")
	if err := fs.Parse(args); err != nil && !errors.Is(err, pflag.ErrHelp) {
		fmt.Fprintf(stderr, "redtop: monitor: %v (see redtop monitor --help)\n", err)
		return 2
	} else if err != nil || *help {
		fmt.Fprintf(stdout, "%s\nFlags of monitor:\n%s", monitorUsage, flagList(fs))
		return 0
	}
	omem, err := parseRedisSize(*limit)
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "redtop: monitor: unexpected argument %q (see redtop monitor --help)\n", fs.Arg(0))
		return 2
	case *duration <= 0:
		fmt.Fprintf(stderr, "redtop: monitor: --duration must be positive, not %v\n", *duration)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "redtop: monitor: --limit-omem: %v\n", err)
		return 2
	case *topN < 1:
		fmt.Fprintf(stderr, "redtop: monitor: --top must be at least 1, not %d\n", *topN)
		return 2
	case *delim == "":
		fmt.Fprintln(stderr, "redtop: monitor: --delimiter cannot be empty")
		return 2
	}
	maxOmem := omem
	if omem == 0 {
		maxOmem = -1 // no check
	}

	fmt.Fprintf(stderr, "redtop: MONITOR on %s for %s: it costs the server throughput and shows every command with its values\n",
		app.Target, secondsText(*duration))
	// The session gets its own cancellation, so an interrupt reads
	// "interrupted" and the lines so far are still printed.
	m, err := redisinfo.StartMonitor(context.WithoutCancel(ctx), app.Target, redisinfo.MonitorOptions{
		Ring:    50000, // 50 ms of a fast server's lines between drains
		Limit:   *duration + 5*time.Second,
		MaxOmem: maxOmem,
		Client:  app.Client,
		Ledger:  app.Ledger,
		Node:    app.Target.Addr,
	})
	if err != nil {
		fmt.Fprintf(stderr, "redtop: monitor: %v\n", err)
		return 1
	}
	top := redisinfo.NewMonitorTop(redisinfo.MonitorTopOptions{TopN: *topN, Delimiter: *delim})
	start := time.Now()
	timer := time.NewTimer(*duration)
	defer timer.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
watch:
	for {
		select {
		case <-tick.C:
			lines, _ := m.Drain(0)
			top.Add(lines)
		case <-timer.C:
			m.Stop("--duration " + secondsText(*duration) + " elapsed")
			break watch
		case <-ctx.Done():
			m.Stop("interrupted")
			break watch
		case <-m.Done():
			break watch
		}
	}
	lines, st := m.Drain(0)
	top.Add(lines)
	elapsed := st.EndedAt.Sub(start)
	if st.EndedAt.IsZero() {
		elapsed = time.Since(start)
	}
	rep := buildMonitorReport(app.Target.String(), top.Snapshot(time.Now(), 0), st, elapsed, omem)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = writeMonitorText(stdout, rep)
	}
	if err != nil && !errors.Is(err, syscall.EPIPE) {
		fmt.Fprintf(stderr, "redtop: monitor: writing: %v\n", err)
		return 1
	}
	return 0
}

// secondsText prints whole seconds as "90s", not "1m30s".
func secondsText(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

func buildMonitorReport(target string, v redisinfo.TopView, st redisinfo.MonitorStats, elapsed time.Duration, limit int64) monitorReport {
	secs := max(elapsed.Seconds(), 1e-3)
	rows := func(l redisinfo.TopList) []monitorRow {
		out := make([]monitorRow, 0, len(l.Rows))
		for _, r := range l.Rows {
			// Rates over the whole watch, not over the span of lines.
			out = append(out, monitorRow{Name: r.Name, Count: r.Count, PerSec: float64(r.Count) / secs, Share: r.Share})
		}
		return out
	}
	rep := monitorReport{
		Target: target, Seconds: elapsed.Seconds(), EndReason: st.EndReason,
		Seen: st.Seen, Counted: v.Lines, Dropped: st.Dropped, Malformed: st.Malformed,
		PerSec: float64(st.Seen) / secs, OmemPeak: max(st.OmemPeak, 0), OmemLimit: limit, OmemNote: st.OmemErr,
		Commands: rows(v.Commands), Patterns: rows(v.Patterns), Clients: rows(v.Clients), HotKeys: rows(v.HotKeys),
		HotKeysLabel: redisinfo.HotKeysLabel,
	}
	return rep
}

func writeMonitorText(w io.Writer, r monitorReport) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "MONITOR on %s for %.1fs: %s lines (%s/s), %s dropped", r.Target, r.Seconds,
		humanize.Comma(r.Seen), rateText(r.PerSec), humanize.Comma(r.Dropped))
	if r.Malformed > 0 {
		fmt.Fprintf(bw, ", %s unreadable", humanize.Comma(r.Malformed))
	}
	fmt.Fprintf(bw, "\nended: %s\n", r.EndReason)
	switch {
	case r.OmemNote != "":
		fmt.Fprintf(bw, "server output buffer for MONITOR: %s\n", r.OmemNote)
	case r.OmemLimit > 0:
		fmt.Fprintf(bw, "server output buffer for MONITOR: peak %s (limit %s)\n",
			humanize.IBytes(uint64(r.OmemPeak)), humanize.IBytes(uint64(r.OmemLimit)))
	}
	if r.Dropped > 0 {
		fmt.Fprintf(bw, "counts below are of the %s lines kept: redtop fell behind for %s\n",
			humanize.Comma(r.Counted), humanize.Comma(r.Dropped))
	}
	table := func(title string, rows []monitorRow, width int) {
		fmt.Fprintln(bw)
		cells := [][]string{{title, "LINES", "/S", "SHARE"}}
		for _, row := range rows {
			cells = append(cells, []string{keys.EscapeWidth(row.Name, width), humanize.Comma(row.Count),
				rateText(row.PerSec), strconv.FormatFloat(100*row.Share, 'f', 1, 64) + "%"})
		}
		if len(rows) == 0 {
			cells = append(cells, []string{"(none)", "", "", ""})
		}
		writeColumns(bw, cells, []bool{false, true, true, true})
	}
	table("COMMAND", r.Commands, 40)
	table("KEY PATTERN (first key, ids as *)", r.Patterns, 60)
	table("CLIENT", r.Clients, 60)
	table("HOT KEY ("+r.HotKeysLabel+")", r.HotKeys, 60)
	return bw.Flush()
}

// rateText is a rate per second: whole numbers with commas from 100 up,
// one decimal below.
func rateText(v float64) string {
	if v >= 100 {
		return humanize.Comma(int64(v + 0.5))
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// parseRedisSize reads a size as redis.conf does: 1k = 1000, 1kb = 1024,
// 1m = 10^6, 1mb = 1 MiB, 1g, 1gb; plain bytes; case-insensitive. KiB,
// MiB and GiB are accepted too.
func parseRedisSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	v, err := strconv.ParseFloat(num, 64)
	if num == "" || err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size such as 1MB, 512kb or 1048576", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1e3, "kb": 1 << 10, "kib": 1 << 10,
		"m": 1e6, "mb": 1 << 20, "mib": 1 << 20,
		"g": 1e9, "gb": 1 << 30, "gib": 1 << 30,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q (b, k, kb, m, mb, g, gb)", s, unit)
	}
	return int64(v * mult), nil
}
