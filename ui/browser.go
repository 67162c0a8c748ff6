package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

type browserMode int

const (
	modeTree  browserMode = iota // prefixes
	modeList                     // the keys of one prefix
	modeValue                    // one key's value
)

// The types the type filter cycles through ("" is any).
var keyTypes = []string{"", "string", "hash", "list", "set", "zset", "stream"}

// listPage is how many keys the list view reads per step.
const listPage = 100

// browser is the keyspace pane: a tree of prefixes built by a background
// SCAN, the keys of a prefix, and one key's value.
type browser struct {
	ctx context.Context
	st  *Styles
	k   browserKeys
	src KeySource
	db  int
	now func() time.Time
	w   int
	h   int

	caps      KeyCaps
	capsKnown bool
	prefix    string // --key-prefix: typed patterns are relative to it
	detected  string // a django-redis "prefix:version:" seen in the keys
	delim     string
	pattern   string // absolute MATCH pattern
	typ       string
	byMemory  bool

	// The scan. gen changes with every new scan; late pages are dropped.
	gen      int
	tree     KeyTree
	cursor   uint64
	started  bool
	running  bool
	done     bool
	scanned  int64   // keys found
	visited  float64 // share of the keyspace visited
	total    int64
	scanErr  string
	scanFrom time.Time
	scanTook time.Duration

	expanded map[string]bool
	closed   map[string]bool // collapsed by the operator: never auto-expanded
	rows     []visRow
	sel, top int

	mode browserMode

	node        TreeRow // the prefix the list shows
	listGen     int
	list        []KeyRow // every row read, before the view's filters
	listCursor  uint64
	listDone    bool
	listLoading bool
	listSel     int
	listTop     int
	noTTL       bool
	idleMin     time.Duration
	listSort    int // listSorts index

	row        KeyRow // the key the value view shows
	view       ValueView
	valGen     int
	val        []string
	valPage    ValuePage
	valTop     int
	valLoading bool
	valErr     string
	warned     bool // told once that reading values resets idle times

	prompt *prompt
	bulk   *bulkDialog
	bulks  BulkSource // nil when the source cannot do bulk operations
}

// visRow is a tree row as drawn, with its depth.
type visRow struct {
	TreeRow
	depth int
}

// statusMsg asks the root to show a status message.
type statusMsg struct {
	level level
	text  string
}

func newBrowser(ctx context.Context, st *Styles, _ KeyMap, src KeySource, db int, now func() time.Time) *browser {
	b := &browser{
		ctx: ctx, st: st, k: defaultBrowserKeys(), src: src, db: db, now: now,
		delim: ":", pattern: "*", expanded: map[string]bool{}, closed: map[string]bool{},
	}
	b.bulks, _ = src.(BulkSource)
	return b
}

// Configure sets what the operator gave on the command line.
func (b *browser) Configure(delim, prefix string) {
	if delim != "" {
		b.delim = delim
	}
	b.prefix = prefix
}

func (b *browser) SetSize(w, h int) { b.w, b.h = w, h }

func (b *browser) Capturing() bool { return b.prompt != nil || b.bulk != nil }

// takesCtrlC: while a bulk operation runs, ctrl+c stops it.
func (b *browser) takesCtrlC() bool { return b.bulk != nil && b.bulk.takesCtrlC() }

func (b *browser) KeyMap() help.KeyMap {
	return browserHelp{k: b.k, mode: b.mode, readOnly: b.caps.ReadOnly, bulk: b.bulks != nil}
}

// activate runs when the pane gets focus: the first time, it starts the scan.
func (b *browser) activate() tea.Cmd {
	if b.started {
		return nil
	}
	return tea.Batch(b.capsCmd(), b.restart())
}

func (b *browser) capsCmd() tea.Cmd {
	ctx, src := b.ctx, b.src
	return func() tea.Msg {
		c, err := src.Caps(ctx)
		return capsMsg{caps: c, err: err}
	}
}

// restart begins a new scan with the current pattern, type and delimiter.
func (b *browser) restart() tea.Cmd {
	b.gen++
	b.tree = b.src.NewTree(b.delim)
	b.cursor, b.scanned, b.total, b.visited = 0, 0, 0, 0
	b.started, b.running, b.done, b.scanErr = true, true, false, ""
	b.scanFrom = b.now()
	b.rebuild()
	ctx, src, gen := b.ctx, b.src, b.gen
	size := func() tea.Msg {
		n, err := src.DBSize(ctx)
		return dbSizeMsg{gen: gen, n: n, err: err}
	}
	return tea.Batch(size, b.scanCmd())
}

func (b *browser) scanCmd() tea.Cmd {
	ctx, src, gen, cur, pat, typ := b.ctx, b.src, b.gen, b.cursor, b.pattern, b.typ
	return func() tea.Msg {
		p, err := src.ScanPage(ctx, cur, pat, typ, true)
		return scanPageMsg{gen: gen, page: p, err: err}
	}
}

// handleData takes the browser's own messages, focused or not.
func (b *browser) handleData(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case capsMsg:
		b.caps, b.capsKnown = msg.caps, msg.err == nil
		if msg.err != nil {
			return status(warnLevel, "could not check permissions: "+msg.err.Error()), true
		}
		return nil, true
	case dbSizeMsg:
		if msg.gen == b.gen && msg.err == nil {
			b.total = msg.n
		}
		return nil, true
	case scanPageMsg:
		return b.handleScanPage(msg), true
	case listPageMsg:
		return b.handleListPage(msg), true
	case valueMsg:
		return b.handleValue(msg), true
	case actionMsg:
		return b.handleAction(msg), true
	case bulkStartedMsg, bulkTickMsg, bulkStatusMsg:
		if b.bulk != nil {
			return b.bulk.handleData(msg), true
		}
		if m, ok := msg.(bulkStartedMsg); ok && m.job != nil {
			m.job.Stop() // the dialog closed before its job started
		}
		return nil, true
	}
	return nil, false
}

func (b *browser) handleScanPage(msg scanPageMsg) tea.Cmd {
	if msg.gen != b.gen {
		return nil // a page of an older scan
	}
	if msg.err != nil {
		b.running, b.scanErr = false, msg.err.Error()
		return status(errLevel, "scan stopped: "+msg.err.Error()+" (R to rescan)")
	}
	p := msg.page
	b.tree.Add(p.Keys)
	b.scanned += p.Scanned
	b.cursor = p.Cursor
	b.visited = p.Visited
	if b.detected == "" && len(p.Keys) > 0 && b.scanned <= 5000 {
		sample := make([]string, 0, len(p.Keys))
		for _, k := range p.Keys {
			sample = append(sample, k.Key)
		}
		b.detected = b.src.DetectPrefix(sample)
	}
	b.rebuild()
	if p.Done {
		b.running, b.done = false, true
		b.scanTook = b.now().Sub(b.scanFrom)
		return nil
	}
	if !b.running {
		return nil // stopped by the operator: resume continues from cursor
	}
	return b.scanCmd()
}

// rebuild flattens the expanded tree into rows, keeping the selection.
func (b *browser) rebuild() {
	selID := ""
	if b.sel < len(b.rows) {
		selID = b.rows[b.sel].ID
	}
	b.rows = b.rows[:0]
	if b.tree == nil {
		return
	}
	var walk func(id string, depth int)
	walk = func(id string, depth int) {
		for _, r := range b.tree.Children(id, b.byMemory) {
			b.rows = append(b.rows, visRow{TreeRow: r, depth: depth})
			if r.HasChildren && b.expanded[r.ID] && len(b.rows) < 100000 {
				walk(r.ID, depth+1)
			}
		}
	}
	walk("", 0)
	// A keyspace under one prefix ("nalar:1:") opens on its first real
	// level: expand single-child chains the operator has not closed.
	if len(b.rows) == 1 && b.rows[0].HasChildren && !b.expanded[b.rows[0].ID] && !b.closed[b.rows[0].ID] {
		b.expanded[b.rows[0].ID] = true
		b.rebuild()
		return
	}
	if len(b.rows) > 1 && b.rows[0].HasChildren && b.expanded[b.rows[0].ID] {
		if kids := b.tree.Children(b.rows[0].ID, b.byMemory); len(kids) == 1 && kids[0].HasChildren && !b.expanded[kids[0].ID] && !b.closed[kids[0].ID] {
			b.expanded[kids[0].ID] = true
			b.rebuild()
			return
		}
	}
	b.sel = 0
	for i, r := range b.rows {
		if r.ID == selID {
			b.sel = i
			break
		}
	}
}

// Update handles keys for the focused pane.
func (b *browser) Update(msg tea.Msg) tea.Cmd {
	if b.bulk != nil {
		k, ok := msg.(tea.KeyPressMsg)
		if !ok {
			return nil
		}
		wasDone := b.bulk.stage == bulkDone
		closed, cmd := b.bulk.update(k)
		if closed {
			b.bulk = nil
			if wasDone {
				return tea.Batch(cmd, b.restart())
			}
		}
		return cmd
	}
	if b.prompt != nil {
		return updatePrompt(&b.prompt, msg)
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	switch b.mode {
	case modeList:
		return b.listKey(k)
	case modeValue:
		return b.valueKey(k)
	}
	return b.treeKey(k)
}

func (b *browser) treeKey(k tea.KeyPressMsg) tea.Cmd {
	page := max(1, b.bodyRows())
	switch {
	case key.Matches(k, b.k.Up):
		b.sel = max(0, b.sel-1)
	case key.Matches(k, b.k.Down):
		b.sel = min(max(0, len(b.rows)-1), b.sel+1)
	case key.Matches(k, b.k.PageUp):
		b.sel = max(0, b.sel-page)
	case key.Matches(k, b.k.PageDown):
		b.sel = min(max(0, len(b.rows)-1), b.sel+page)
	case key.Matches(k, b.k.Top):
		b.sel = 0
	case key.Matches(k, b.k.Bottom):
		b.sel = max(0, len(b.rows)-1)
	case key.Matches(k, b.k.Expand):
		if r, ok := b.selected(); ok && r.HasChildren {
			b.expanded[r.ID] = !b.expanded[r.ID]
			b.closed[r.ID] = !b.expanded[r.ID]
			b.rebuild()
		}
	case key.Matches(k, b.k.Collapse):
		b.collapse()
	case key.Matches(k, b.k.Open):
		if r, ok := b.selected(); ok {
			return b.openList(r)
		}
	case key.Matches(k, b.k.Filter):
		current := b.relative(b.pattern)
		if current == "*" {
			current = ""
		}
		b.prompt = newPrompt("Match pattern (Redis glob)", b.patternHint(), current, b.setPattern)
		b.prompt.body = b.patternHelp()
	case key.Matches(k, b.k.Type):
		b.typ = keyTypes[(indexOf(keyTypes, b.typ)+1)%len(keyTypes)]
		return b.restart()
	case key.Matches(k, b.k.Sort):
		b.byMemory = !b.byMemory
		b.rebuild()
	case key.Matches(k, b.k.Delim):
		b.prompt = newPrompt("Delimiter between key segments", ":", b.delim, func(v string) (tea.Cmd, string) {
			if v == "" {
				return nil, "the delimiter cannot be empty"
			}
			b.delim = v
			return b.restart(), ""
		})
	case key.Matches(k, b.k.Rescan):
		return b.restart()
	case key.Matches(k, b.k.BulkDelete), key.Matches(k, b.k.BulkExpire), key.Matches(k, b.k.BulkPersist):
		if r, ok := b.selected(); ok {
			return b.openBulk(k, r.Pattern)
		}
		return b.openBulk(k, b.pattern)
	case key.Matches(k, b.k.Stop):
		switch {
		case b.running:
			b.running = false
			return status(infoLevel, "scan paused: S resumes, R starts again")
		case !b.done && b.started:
			b.running = true
			b.scanErr = ""
			return b.scanCmd()
		}
	}
	return nil
}

func (b *browser) selected() (visRow, bool) {
	if b.sel < len(b.rows) {
		return b.rows[b.sel], true
	}
	return visRow{}, false
}

// collapse closes the selected node, or moves to its parent.
func (b *browser) collapse() {
	r, ok := b.selected()
	if !ok {
		return
	}
	if r.HasChildren && b.expanded[r.ID] {
		b.expanded[r.ID] = false
		b.closed[r.ID] = true
		b.rebuild()
		return
	}
	for i := b.sel - 1; i >= 0; i-- {
		if b.rows[i].depth < r.depth {
			b.sel = i
			return
		}
	}
}

// relative shows an absolute pattern relative to the django-redis prefix.
func (b *browser) relative(p string) string {
	if b.prefix != "" && strings.HasPrefix(p, b.prefix) {
		return strings.TrimPrefix(p, b.prefix)
	}
	return p
}

// absolute reads a typed pattern: relative to the django-redis prefix when
// there is one and the pattern does not already start with it.
func (b *browser) absolute(p string) string {
	if b.prefix != "" && !strings.HasPrefix(p, b.prefix) && p != "*" {
		return b.prefix + p
	}
	return p
}

func (b *browser) patternHint() string {
	if b.prefix != "" {
		return "employees:*  (relative to " + b.src.Escape(b.prefix) + ")"
	}
	return "user:*:profile"
}

func (b *browser) patternHelp() []string {
	lines := []string{
		b.st.Muted.Render("* any run  ? one char  [abc] [a-z] [^a] a class  \\x the character x"),
	}
	if b.prefix != "" {
		lines = append(lines, b.st.Muted.Render("relative to "+b.src.Escape(b.prefix)+"; * alone means every key"))
	}
	return lines
}

func (b *browser) setPattern(v string) (tea.Cmd, string) {
	if v == "" {
		v = "*"
	}
	abs := b.absolute(v)
	if err := b.src.ValidatePattern(abs); err != nil {
		return nil, err.Error()
	}
	b.pattern = abs
	b.expanded, b.closed = map[string]bool{}, map[string]bool{}
	return b.restart(), ""
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return 0
}

func status(l level, text string) tea.Cmd {
	return func() tea.Msg { return statusMsg{level: l, text: text} }
}

// bodyRows is how many table rows fit in the pane.
func (b *browser) bodyRows() int { return b.h - 4 }

// scanProgress describes the scan in words.
func (b *browser) scanProgress() string {
	switch {
	case !b.started:
		return "not scanned"
	case b.scanErr != "":
		return fmt.Sprintf("stopped at %s keys: %s", count(b.scanned), b.scanErr)
	}
	pct := int(b.visited * 100)
	if b.done {
		pct = 100
	}
	var s string
	if b.pattern == "*" && b.typ == "" {
		s = "scanned " + count(b.scanned)
		if b.total > 0 {
			s += fmt.Sprintf(" / ~%s (%d%%)", count(b.total), pct)
		}
	} else {
		s = fmt.Sprintf("found %s · visited %d%%", count(b.scanned), pct)
		if b.total > 0 {
			s += " of ~" + count(b.total)
		}
	}
	switch {
	case b.done:
		s += " · done in " + age(b.scanTook.Round(10*time.Millisecond))
	case b.running:
		s += " · scanning…"
	default:
		s += " · paused"
	}
	return s
}

// openBulk opens the bulk dialog for an operation on pattern.
func (b *browser) openBulk(k tea.KeyPressMsg, pattern string) tea.Cmd {
	if b.bulks == nil {
		return nil
	}
	if b.caps.ReadOnly {
		return status(warnLevel, "read-only: "+b.caps.ReadOnlyReason)
	}
	op := "delete"
	switch {
	case key.Matches(k, b.k.BulkExpire):
		op = "expire"
	case key.Matches(k, b.k.BulkPersist):
		op = "persist"
	}
	b.bulk = newBulkDialog(b.ctx, b.bulks, b.src, op, pattern)
	return nil
}
