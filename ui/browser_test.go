package ui

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
)

// fakeKeys is an in-memory KeySource. SCAN steps return pageSize keys.
type fakeKeys struct {
	keys     map[string]KeyRow
	order    []string
	pageSize int
	caps     KeyCaps
	deleted  []string
	failScan error
}

func newFakeKeys(rows ...KeyRow) *fakeKeys {
	f := &fakeKeys{keys: map[string]KeyRow{}, pageSize: 3}
	for _, r := range rows {
		r.Exists = true
		f.keys[r.Key] = r
		f.order = append(f.order, r.Key)
	}
	sort.Strings(f.order)
	return f
}

func (f *fakeKeys) NewTree(delim string) KeyTree {
	return &fakeTree{delim: delim, nodes: map[string]*TreeRow{}}
}
func (f *fakeKeys) DBSize(context.Context) (int64, error) { return int64(len(f.keys)), nil }
func (f *fakeKeys) ScanPage(_ context.Context, cur uint64, pattern, typ string, _ bool) (ScanPage, error) {
	if f.failScan != nil {
		return ScanPage{}, f.failScan
	}
	var p ScanPage
	i := int(cur)
	for ; i < len(f.order) && i < int(cur)+f.pageSize; i++ {
		k := f.order[i]
		r, ok := f.keys[k]
		if !ok || !globMatch(pattern, k) || (typ != "" && r.Type != typ) {
			continue
		}
		p.Keys = append(p.Keys, ScannedKey{Key: k, Bytes: r.Bytes, HasTTL: r.TTL >= 0})
	}
	p.Scanned = int64(len(p.Keys))
	if i >= len(f.order) {
		p.Done = true
	} else {
		p.Cursor = uint64(i)
	}
	return p, nil
}
func (f *fakeKeys) Inspect(_ context.Context, keys []string) ([]KeyRow, error) {
	out := make([]KeyRow, len(keys))
	for i, k := range keys {
		out[i] = f.keys[k]
		out[i].Key = k
	}
	return out, nil
}
func (f *fakeKeys) Value(_ context.Context, r KeyRow, v ValueView, cur string) (ValuePage, error) {
	return ValuePage{Lines: []string{"{'name': 'Ann',", " 'dept': 'ops'}"}, Chain: "zlib → pickle", Total: 40, Shown: 40}, nil
}
func (f *fakeKeys) SetTTL(_ context.Context, k string, d time.Duration) (string, error) {
	r := f.keys[k]
	r.TTL = d
	f.keys[k] = r
	return "TTL set to " + age(d), nil
}
func (f *fakeKeys) Persist(_ context.Context, k string) (string, error) { return "persisted", nil }
func (f *fakeKeys) Delete(_ context.Context, k string) (string, error) {
	if _, ok := f.keys[k]; !ok {
		return "", errors.New("key no longer exists")
	}
	delete(f.keys, k)
	f.deleted = append(f.deleted, k)
	return "deleted", nil
}
func (f *fakeKeys) ParseTTL(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad TTL %q: use e.g. 90s, 10m, 2h, 14d", s)
	}
	return d, nil
}
func (f *fakeKeys) Caps(context.Context) (KeyCaps, error) { return f.caps, nil }
func (f *fakeKeys) DetectPrefix([]string) string          { return "" }
func (f *fakeKeys) Escape(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
func (f *fakeKeys) ValidatePattern(p string) error {
	if strings.HasPrefix(p, "[") && !strings.Contains(p, "]") {
		return errors.New("unterminated [ in pattern")
	}
	return nil
}

// globMatch: enough of Redis globbing for the fake (prefix*).
func globMatch(p, k string) bool {
	if p == "*" || p == "" {
		return true
	}
	if strings.HasSuffix(p, "*") && !strings.ContainsAny(p[:len(p)-1], "*?[") {
		return strings.HasPrefix(k, p[:len(p)-1])
	}
	return p == k
}

// fakeTree groups by the first segment only.
type fakeTree struct {
	delim string
	nodes map[string]*TreeRow
	total TreeRow
}

func (t *fakeTree) Add(batch []ScannedKey) {
	for _, k := range batch {
		seg, _, found := strings.Cut(k.Key, t.delim)
		n := t.nodes[seg]
		if n == nil {
			n = &TreeRow{ID: seg, Label: seg + t.delim, Pattern: seg + t.delim + "*", HasChildren: true}
			if !found { // a whole key
				n = &TreeRow{ID: seg, Label: (&fakeKeys{}).Escape(seg), Pattern: seg, Leaf: true}
			}
			t.nodes[seg] = n
		}
		n.Keys++
		n.Bytes += k.Bytes
		t.total.Keys++
		t.total.Bytes += k.Bytes
		if k.HasTTL {
			n.WithTTL++
			t.total.WithTTL++
		}
		if k.Bytes > n.LargestBytes {
			n.Largest, n.LargestBytes = (&fakeKeys{}).Escape(k.Key), k.Bytes
		}
	}
}
func (t *fakeTree) Children(id string, byMemory bool) []TreeRow {
	if id != "" {
		return nil
	}
	var out []TreeRow
	for _, n := range t.nodes {
		out = append(out, *n)
	}
	sort.Slice(out, func(i, j int) bool {
		if byMemory {
			return out[i].Bytes > out[j].Bytes
		}
		return out[i].Keys > out[j].Keys || out[i].Keys == out[j].Keys && out[i].ID < out[j].ID
	})
	return out
}
func (t *fakeTree) Total() TreeRow { return t.total }

func sampleKeys() *fakeKeys {
	return newFakeKeys(
		KeyRow{Key: "nalar:1:employees:list:page:1", Type: "string", TTL: 300 * time.Second, Bytes: 2048, Idle: 12 * time.Second, Encoding: "raw", Len: 1900},
		KeyRow{Key: "nalar:1:employees:list:page:2", Type: "string", TTL: 280 * time.Second, Bytes: 1024, Idle: 2 * time.Second, Encoding: "raw", Len: 900},
		KeyRow{Key: "nalar:1:settings", Type: "hash", TTL: -1, Bytes: 512, Idle: 3 * time.Hour, Encoding: "listpack", Len: 12},
		KeyRow{Key: "evil\x1b]52;c;bad\x07\nkey", Type: "string", TTL: -1, Bytes: 64, Idle: time.Minute, Encoding: "embstr", Len: 5},
		KeyRow{Key: "queue:jobs", Type: "list", TTL: -1, Bytes: 4096, Idle: 10 * 24 * time.Hour, Encoding: "quicklist", Len: 300},
	)
}

// drain runs cmd and feeds what it returns to m, recursively, skipping
// commands that wait (ticks).
func drain(t *testing.T, m *Model, cmd tea.Cmd) {
	t.Helper()
	if cmd == nil {
		return
	}
	ch := make(chan tea.Msg, 1)
	go func() { ch <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-ch:
	case <-time.After(50 * time.Millisecond):
		return // a timer: not part of the data flow
	}
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			drain(t, m, c)
		}
	default:
		_, next := m.Update(msg)
		drain(t, m, next)
	}
}

func press(t *testing.T, m *Model, keys ...string) {
	t.Helper()
	for _, k := range keys {
		var msg tea.KeyPressMsg
		switch k {
		case "enter":
			msg = tea.KeyPressMsg{Code: tea.KeyEnter}
		case "esc":
			msg = tea.KeyPressMsg{Code: tea.KeyEscape}
		case "down":
			msg = tea.KeyPressMsg{Code: tea.KeyDown}
		case "up":
			msg = tea.KeyPressMsg{Code: tea.KeyUp}
		case "tab":
			msg = tea.KeyPressMsg{Code: tea.KeyTab}
		case "space":
			msg = tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
		default:
			r := []rune(k)[0]
			msg = tea.KeyPressMsg{Code: r, Text: k}
		}
		_, cmd := m.Update(msg)
		drain(t, m, cmd)
	}
}

func browsing(t *testing.T, src *fakeKeys, w, h int) (*Model, *clock) {
	t.Helper()
	c := &clock{t: t0}
	m := New(context.Background(), Config{Source: noSource{}, Target: "127.0.0.1:6379", DB: 1, Interval: time.Second, Now: c.now, Keys: src})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	press(t, m, "2")
	return m, c
}

func TestBrowserScansIntoTree(t *testing.T) {
	m, _ := browsing(t, sampleKeys(), 100, 24)
	s := screen(m)
	for _, want := range []string{"[keys]", "scanned 5 / ~5 (100%)", "nalar:", "queue:", "done in"} {
		if !strings.Contains(s, want) {
			t.Errorf("screen lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(m.View().Content, "\x1b]52") || strings.Contains(m.View().Content, "\x07") {
		t.Fatal("a raw escape sequence from a key name reached the screen")
	}
}

func TestBrowserGolden(t *testing.T) {
	m, _ := browsing(t, sampleKeys(), 80, 24)
	golden.RequireEqual(t, []byte(screen(m)))
}

func TestFilterPromptCapturesKeys(t *testing.T) {
	m, _ := browsing(t, sampleKeys(), 100, 24)
	press(t, m, "/")
	if !m.browser.Capturing() {
		t.Fatal("/ did not open the pattern prompt")
	}
	// q and ? are text here, not quit and help.
	_, cmd := m.Update(tea.KeyPressMsg{Code: 'q', Text: "q"})
	if cmd != nil {
		if _, quit := cmd().(tea.QuitMsg); quit {
			t.Fatal("q in the prompt quit")
		}
	}
	m.browser.prompt.input.SetValue("nalar:*")
	press(t, m, "enter")
	if m.browser.pattern != "nalar:*" || m.browser.Capturing() {
		t.Fatalf("pattern %q capturing %v", m.browser.pattern, m.browser.Capturing())
	}
	if s := screen(m); strings.Contains(s, "queue:") || !strings.Contains(s, "match nalar:*") {
		t.Fatalf("filter not applied:\n%s", s)
	}
	// A bad pattern is refused and changes nothing.
	press(t, m, "/")
	m.browser.prompt.input.SetValue("[oops")
	press(t, m, "enter")
	if !m.browser.Capturing() || !strings.Contains(screen(m), "unterminated") || m.browser.pattern != "nalar:*" {
		t.Fatalf("bad pattern accepted:\n%s", screen(m))
	}
	press(t, m, "esc")
	if m.browser.Capturing() || m.browser.pattern != "nalar:*" {
		t.Fatal("esc did not cancel")
	}
}

func TestStaleScanPagesAreDropped(t *testing.T) {
	m, _ := browsing(t, sampleKeys(), 100, 24)
	b := m.browser
	before := b.tree.Total().Keys
	old := b.gen - 1
	m.Update(scanPageMsg{gen: old, page: ScanPage{Keys: []ScannedKey{{Key: "late:1"}}, Done: true}})
	if b.tree.Total().Keys != before {
		t.Fatal("a page from an older scan was added")
	}
}

func TestScanErrorIsShownAndRecoverable(t *testing.T) {
	src := sampleKeys()
	src.failScan = errors.New("NOPERM this user has no permissions to run the 'scan' command")
	m, _ := browsing(t, src, 100, 24)
	if s := screen(m); !strings.Contains(s, "NOPERM") {
		t.Fatalf("scan error not shown:\n%s", s)
	}
	src.failScan = nil
	press(t, m, "R")
	if s := screen(m); !strings.Contains(s, "100%") {
		t.Fatalf("rescan did not recover:\n%s", s)
	}
}

func TestListValueAndDelete(t *testing.T) {
	src := sampleKeys()
	m, _ := browsing(t, src, 100, 24)
	// Select the "evil" node (sorted by count then id: nalar first).
	for i, r := range m.browser.rows {
		if strings.HasPrefix(r.ID, "evil") {
			m.browser.sel = i
		}
	}
	press(t, m, "enter")
	s := screen(m)
	if !strings.Contains(s, `evil\x1b]52;c;bad`) || strings.Contains(m.View().Content, "\x1b]52;c;bad") {
		t.Fatalf("hostile key not escaped in the list:\n%s", s)
	}
	press(t, m, "enter")
	if s := screen(m); !strings.Contains(s, "zlib → pickle") || !strings.Contains(s, "'name': 'Ann'") {
		t.Fatalf("value view:\n%s", s)
	}
	press(t, m, "d")
	if s := screen(m); !strings.Contains(s, "UNLINK") || !strings.Contains(s, `evil\x1b]52`) {
		t.Fatalf("no confirmation naming the key:\n%s", s)
	}
	press(t, m, "y")
	if len(src.deleted) != 1 || src.deleted[0] != "evil\x1b]52;c;bad\x07\nkey" {
		t.Fatalf("deleted %q, want the exact bytes of the key", src.deleted)
	}
	if m.browser.mode != modeList || len(m.browser.visibleList()) != 0 {
		t.Fatal("deleted row still listed")
	}
}

func TestSetTTLValidatesInput(t *testing.T) {
	src := sampleKeys()
	m, _ := browsing(t, src, 100, 24)
	m.browser.sel = 0 // nalar: node
	press(t, m, "enter")
	press(t, m, "t")
	m.browser.prompt.input.SetValue("soon")
	press(t, m, "enter")
	if !m.browser.Capturing() || !strings.Contains(screen(m), "bad TTL") {
		t.Fatalf("bad TTL accepted:\n%s", screen(m))
	}
	m.browser.prompt.input.SetValue("90s")
	press(t, m, "enter")
	k := m.browser.visibleList()[0].Key
	if src.keys[k].TTL != 90*time.Second || m.browser.visibleList()[0].TTL != 90*time.Second {
		t.Fatal("TTL not set or row not updated in place")
	}
}

func TestReadOnlyRefusesWrites(t *testing.T) {
	src := sampleKeys()
	src.caps = KeyCaps{ReadOnly: true, ReadOnlyReason: "connected to a replica"}
	m, _ := browsing(t, src, 100, 24)
	press(t, m, "enter", "d")
	if m.browser.Capturing() || len(src.deleted) > 0 {
		t.Fatal("delete offered in read-only mode")
	}
	if s := screen(m); !strings.Contains(s, "read-only: connected to a replica") {
		t.Fatalf("read-only not said:\n%s", s)
	}
	for _, b := range m.browser.KeyMap().ShortHelp() {
		if b.Help().Key == "d" && b.Enabled() {
			t.Fatal("help still offers delete")
		}
	}
}

func TestNoTTLFilter(t *testing.T) {
	m, _ := browsing(t, sampleKeys(), 100, 24)
	m.browser.sel = 0
	press(t, m, "enter", "N")
	for _, r := range m.browser.visibleList() {
		if r.TTL >= 0 {
			t.Fatalf("key with TTL listed under the no-TTL filter: %v", r.Key)
		}
	}
	_ = ansi.Strip
}

func TestStaleKeyFinder(t *testing.T) {
	m, _ := browsing(t, sampleKeys(), 100, 24)
	m.browser.sel = 0 // nalar: three keys, idle 12s, 2s and 3h
	press(t, m, "enter", "s", "s")
	rows := m.browser.visibleList()
	if len(rows) < 2 || rows[0].Idle < rows[1].Idle {
		t.Fatalf("not sorted by idle time: %v", rows)
	}
	if !strings.Contains(screen(m), "sorted by idle time") {
		t.Fatalf("order not said:\n%s", screen(m))
	}
	press(t, m, "s")
	if m.browser.listSort != 0 {
		t.Fatal("s does not cycle back to scan order")
	}
}
