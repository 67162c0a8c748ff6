package ui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"redtop/redisinfo"
)

type bulkStage int

const (
	bulkEdit       bulkStage = iota // pattern (and TTL) being typed
	bulkPreviewing                  // counting, nothing changed
	bulkConfirm                     // preview shown, typed confirmation
	bulkRunning
	bulkDone
)

// Pacing presets, cycled with ctrl+r: keys per second, 0 for no cap.
var bulkRates = []float64{0, 100000, 10000, 1000}

type (
	bulkStartedMsg struct {
		gen int
		job BulkJob
		err error
	}
	bulkTickMsg   struct{ gen int }
	bulkStatusMsg struct {
		gen int
		st  BulkStatus
	}
)

// bulkDialog drives one operation by pattern: edit, preview (a dry run),
// typed confirmation, progress with stop and abort, report.
type bulkDialog struct {
	ctx     context.Context
	src     BulkSource
	parse   func(string) (time.Duration, error)
	check   func(string) error
	op      string
	stage   bulkStage
	pattern textinput.Model
	ttl     textinput.Model
	onTTL   bool // the TTL input has focus
	confirm textinput.Model
	job     BulkJob
	gen     int
	status  BulkStatus
	preview *BulkPreview
	backup  bool
	rate    int // index in bulkRates
	auto    bool
	stops   int
	err     string
}

func newBulkDialog(ctx context.Context, src BulkSource, ks KeySource, op, pattern string) *bulkDialog {
	in := func(v, placeholder string) textinput.Model {
		t := textinput.New()
		t.Prompt = "> "
		t.Placeholder = placeholder
		t.SetValue(v)
		t.CharLimit = 4096
		return t
	}
	d := &bulkDialog{ctx: ctx, src: src, parse: ks.ParseTTL, check: ks.ValidatePattern, op: op,
		pattern: in(pattern, "a Redis glob"), ttl: in("", "90s, 10m, 2h, 14d"), confirm: in("", "")}
	d.pattern.Focus()
	return d
}

// takesCtrlC: while something runs, ctrl+c stops it instead of quitting.
func (d *bulkDialog) takesCtrlC() bool { return d.stage == bulkPreviewing || d.stage == bulkRunning }

func (d *bulkDialog) tick() tea.Cmd {
	gen := d.gen
	return tea.Tick(200*time.Millisecond, func(time.Time) tea.Msg { return bulkTickMsg{gen: gen} })
}

// handleData takes the dialog's messages; done reports it closed.
func (d *bulkDialog) handleData(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case bulkStartedMsg:
		if msg.gen != d.gen {
			if msg.job != nil {
				msg.job.Stop()
			}
			return nil
		}
		if msg.err != nil {
			d.err = msg.err.Error()
			d.stage = bulkEdit
			return nil
		}
		d.job = msg.job
		return d.tick()
	case bulkTickMsg:
		if msg.gen != d.gen || d.job == nil {
			return nil
		}
		job, gen := d.job, d.gen
		return func() tea.Msg { return bulkStatusMsg{gen: gen, st: job.Status()} }
	case bulkStatusMsg:
		if msg.gen != d.gen {
			return nil
		}
		d.status = msg.st
		if !msg.st.Done {
			return d.tick()
		}
		d.job = nil
		switch {
		case msg.st.Err != "" && msg.st.Preview == nil && msg.st.Report == nil:
			d.err = msg.st.Err
			d.stage = bulkEdit
		case d.stage == bulkPreviewing:
			d.preview = msg.st.Preview
			d.backup = d.op == "delete" && d.preview != nil && d.preview.BackupDefault
			d.stage = bulkConfirm
			d.confirm.Focus()
		default:
			d.stage = bulkDone
		}
	}
	return nil
}

// update handles a key; closed reports the dialog is done with.
func (d *bulkDialog) update(k tea.KeyPressMsg) (closed bool, cmd tea.Cmd) {
	s := k.String()
	switch d.stage {
	case bulkPreviewing, bulkRunning:
		if s == "esc" || s == "ctrl+c" {
			d.stops++
			switch {
			case d.job == nil:
			case d.stops == 1:
				d.job.Stop()
			default:
				d.job.Abort()
			}
		}
		return false, nil
	case bulkDone:
		if s == "esc" || s == "enter" || s == "q" {
			return true, nil
		}
		return false, nil
	case bulkConfirm:
		switch s {
		case "esc":
			d.stage = bulkEdit
			d.confirm.SetValue("")
			d.pattern.Focus()
			return false, nil
		case "ctrl+b":
			if d.op == "delete" {
				d.backup = !d.backup
			}
			return false, nil
		case "ctrl+r":
			d.rate = (d.rate + 1) % len(bulkRates)
			return false, nil
		case "ctrl+p":
			d.auto = !d.auto
			return false, nil
		case "enter":
			return false, d.run()
		}
		var c tea.Cmd
		d.confirm, c = d.confirm.Update(k)
		d.err = ""
		return false, c
	}
	// bulkEdit
	switch s {
	case "esc":
		return true, nil
	case "tab", "shift+tab":
		if d.op == "expire" {
			d.onTTL = !d.onTTL
			if d.onTTL {
				d.pattern.Blur()
				return false, d.ttl.Focus()
			}
			d.ttl.Blur()
			return false, d.pattern.Focus()
		}
		return false, nil
	case "enter":
		return false, d.startPreview()
	}
	var c tea.Cmd
	if d.onTTL {
		d.ttl, c = d.ttl.Update(k)
	} else {
		d.pattern, c = d.pattern.Update(k)
	}
	d.err = ""
	return false, c
}

func (d *bulkDialog) startPreview() tea.Cmd {
	p := d.pattern.Value()
	if err := d.check(p); err != nil {
		d.err = err.Error()
		return nil
	}
	if d.op == "expire" {
		if _, err := d.parse(d.ttl.Value()); err != nil {
			d.err = err.Error()
			return nil
		}
	}
	d.gen++
	d.stage, d.stops, d.err, d.status = bulkPreviewing, 0, "", BulkStatus{}
	ctx, src, gen := d.ctx, d.src, d.gen
	return func() tea.Msg {
		job, err := src.StartPreview(ctx, p)
		return bulkStartedMsg{gen: gen, job: job, err: err}
	}
}

func (d *bulkDialog) run() tea.Cmd {
	typed := d.confirm.Value()
	if typed != d.pattern.Value() && typed != strconv.FormatInt(d.preview.Matched, 10) {
		d.err = "type the pattern, or the number of keys, exactly"
		return nil
	}
	ttl, _ := d.parse(d.ttl.Value())
	req := BulkRequest{Op: d.op, Pattern: d.pattern.Value(), TTL: ttl, Backup: d.backup, Rate: bulkRates[d.rate], Auto: d.auto}
	d.gen++
	d.stage, d.stops, d.status = bulkRunning, 0, BulkStatus{}
	ctx, src, gen := d.ctx, d.src, d.gen
	return func() tea.Msg {
		job, err := src.StartBulk(ctx, req)
		return bulkStartedMsg{gen: gen, job: job, err: err}
	}
}

// view draws the dialog w cells wide and at most h tall. Its text wraps
// to the box; the preview's examples give way first, so the line to type
// the confirmation in always shows, even in 80x24.
func (d *bulkDialog) view(st *Styles, w, h int) string {
	title := map[string]string{"delete": "Delete keys by pattern (UNLINK)", "expire": "Set a TTL on keys by pattern", "persist": "Remove the TTL of keys by pattern"}[d.op]
	var lines []string
	inner := w - 4
	switch d.stage {
	case bulkEdit:
		d.pattern.SetWidth(inner - 4)
		d.ttl.SetWidth(inner - 4)
		lines = append(lines, "pattern "+d.pattern.View())
		if d.op == "expire" {
			lines = append(lines, "TTL     "+d.ttl.View(), st.Muted.Render("tab switches between pattern and TTL"))
		}
		lines = append(lines, st.Muted.Render("enter: preview (a dry run: nothing changes) · esc: cancel"))
	case bulkPreviewing:
		s := d.status
		lines = append(lines, fmt.Sprintf("counting… %s matching of %s scanned", count(s.Matched), count(s.Scanned)),
			gauge(st, s.Fraction*100, inner, redisinfo.OK), st.Muted.Render("esc stops"))
	case bulkConfirm:
		room := h - 2
		if d.err != "" {
			room -= len(wrapLines(d.err, inner))
		}
		lines = append(lines, d.previewLines(st, inner, room)...)
	case bulkRunning:
		lines = append(lines, d.progressLines(st, inner)...)
	case bulkDone:
		for _, l := range d.status.Report {
			lines = append(lines, wrapLines(l, inner)...)
		}
		if d.status.Failed {
			lines = append(lines, st.Crit.Render("✖ not everything is known to be done: see unknown / not attempted above"))
		}
		lines = append(lines, st.Muted.Render("enter or esc closes; the tree is scanned again"))
	}
	if d.err != "" {
		lines = append(lines, wrapLines(st.Crit.Render("✖ ")+d.err, inner)...)
	}
	for i := range lines {
		lines[i] = " " + lines[i]
	}
	return frame(*st, title, lines, w, len(lines)+2)
}

// previewLines are the preview and the confirmation, in at most room
// lines when the examples can make way (20 at most, fewer to fit).
func (d *bulkDialog) previewLines(st *Styles, inner, room int) []string {
	p := d.preview
	if p == nil {
		return []string{"no preview"}
	}
	n := count(p.Matched)
	if p.Estimate {
		n = "about " + n + " (estimated from a sample)"
	}
	var head, tail []string
	add := func(to *[]string, s string) { *to = append(*to, wrapLines(s, inner)...) }
	first := fmt.Sprintf("%s keys match %s", st.Title.Render(n), st.Title.Render(p.Pattern))
	if p.DBSize > 0 {
		first += fmt.Sprintf(" · %.1f%% of the database (%s keys)", p.Share*100, count(p.DBSize))
	}
	add(&head, first)
	mem := "memory unknown"
	if p.EstBytes >= 0 {
		mem = "about " + size(p.EstBytes) + " of memory"
	}
	add(&head, fmt.Sprintf("%s · TTL: %s none, %s < 1h, %s < 1d, %s later", mem, count(p.TTLNone), count(p.TTLHour), count(p.TTLDay), count(p.TTLLonger)))
	if p.Everything {
		add(&head, st.Crit.Render("! this pattern matches EVERY key of the database"))
	} else if p.OverHalf {
		add(&head, st.Crit.Render("! this pattern matches more than half of the database"))
	}
	for _, w := range p.Warnings {
		add(&head, st.Warn.Render("! ")+w)
	}
	opts := []string{}
	if d.op == "delete" {
		b := "off"
		if d.backup {
			b = "on (DUMP before UNLINK; restore with redtop restore FILE)"
		}
		opts = append(opts, "ctrl+b backup "+b)
	}
	rate := "no cap"
	if r := bulkRates[d.rate]; r > 0 {
		rate = count(int64(r)) + " keys/s"
	}
	auto := "off"
	if d.auto {
		auto = "on"
	}
	opts = append(opts, "ctrl+r rate "+rate, "ctrl+p slow down when latency rises "+auto)
	add(&tail, st.Muted.Render(strings.Join(opts, " · ")))
	d.confirm.SetWidth(inner - 4)
	add(&tail, fmt.Sprintf("type %s (or %s) and enter to proceed; esc goes back", st.Title.Render(p.Pattern), count(p.Matched)))
	tail = append(tail, d.confirm.View())

	lines := head
	cols := max(1, inner/40)
	rows := min((min(len(p.Samples), 20)+cols-1)/cols, room-len(head)-len(tail)-1)
	if rows > 0 {
		lines = append(lines, st.Muted.Render("for example:"))
		for i := 0; i < rows*cols && i < len(p.Samples); i += cols {
			var row []string
			for j := i; j < i+cols && j < len(p.Samples); j++ {
				row = append(row, fit(p.Samples[j], inner/cols-1))
			}
			lines = append(lines, "  "+strings.Join(row, " "))
		}
	}
	return append(lines, tail...)
}

func (d *bulkDialog) progressLines(st *Styles, inner int) []string {
	s := d.status
	verb := map[string]string{"delete": "deleted", "expire": "expired", "persist": "persisted"}[d.op]
	lines := []string{
		gauge(st, s.Fraction*100, inner, redisinfo.OK),
		fmt.Sprintf("%s %s · already gone %s · unknown %s · %s matched of %s scanned",
			verb, st.Title.Render(count(s.Applied)), count(s.Gone), count(s.Unknown), count(s.Matched), count(s.Scanned)),
		fmt.Sprintf("%s keys/s · %s elapsed · ETA %s", rate(s.KeysPerSec), age(s.Elapsed), eta(s.ETA)),
	}
	if s.Delay > 0 {
		lines = append(lines, st.Warn.Render(fmt.Sprintf("pacing: %s between batches", age(s.Delay))))
	}
	switch d.stops {
	case 0:
		lines = append(lines, st.Muted.Render("esc or ctrl+c stops after the batches in flight; press again to abort at once"))
	case 1:
		lines = append(lines, st.Warn.Render("stopping after the batches in flight… press again to abort at once"))
	default:
		lines = append(lines, st.Crit.Render("aborting…"))
	}
	return lines
}

func eta(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return age(d)
}
