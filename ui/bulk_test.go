package ui

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// fakeBulkKeys adds bulk operations to fakeKeys.
type fakeBulkKeys struct {
	*fakeKeys
	mu      sync.Mutex
	ran     []BulkRequest
	stopped bool
	aborted bool
	hold    bool     // the run stays in progress until stopped
	samples []string // the preview's examples; one when nil
}

type fakeJob struct {
	f    *fakeBulkKeys
	st   BulkStatus
	hold bool
}

func (j *fakeJob) Status() BulkStatus {
	j.f.mu.Lock()
	defer j.f.mu.Unlock()
	if j.hold && !j.f.stopped && !j.f.aborted {
		return BulkStatus{Fraction: 0.4, Applied: 40, Matched: 100, Scanned: 100, KeysPerSec: 1000}
	}
	return j.st
}
func (j *fakeJob) Stop()  { j.f.mu.Lock(); j.f.stopped = true; j.f.mu.Unlock() }
func (j *fakeJob) Abort() { j.f.mu.Lock(); j.f.aborted = true; j.f.mu.Unlock() }

func (f *fakeBulkKeys) StartPreview(_ context.Context, pattern string) (BulkJob, error) {
	n := int64(0)
	for _, k := range f.order {
		if globMatch(pattern, k) {
			n++
		}
	}
	samples := f.samples
	if samples == nil {
		samples = []string{"nalar:1:settings"}
	}
	return &fakeJob{f: f, st: BulkStatus{Done: true, Preview: &BulkPreview{Pattern: pattern, Matched: n, DBSize: int64(len(f.order)),
		Share: float64(n) / float64(len(f.order)), Samples: samples, EstBytes: 1024, BackupDefault: true, OverHalf: n*2 > int64(len(f.order))}}}, nil
}

func (f *fakeBulkKeys) StartBulk(_ context.Context, req BulkRequest) (BulkJob, error) {
	f.mu.Lock()
	f.ran = append(f.ran, req)
	f.mu.Unlock()
	return &fakeJob{f: f, hold: f.hold, st: BulkStatus{Done: true, Report: []string{"deleted: 3 · already gone: 0 · unknown: 0"}}}, nil
}

func bulkBrowsing(t *testing.T, f *fakeBulkKeys) *Model {
	t.Helper()
	c := &clock{t: t0}
	m := New(context.Background(), Config{Source: noSource{}, Target: "127.0.0.1:6379", DB: 1, Interval: time.Second, Now: c.now, Keys: f})
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	press(t, m, "2")
	return m
}

// bulkRun drives the status polling a tick would do.
func bulkPoll(t *testing.T, m *Model) {
	t.Helper()
	for i := 0; i < 3 && m.browser.bulk != nil; i++ {
		_, cmd := m.Update(bulkTickMsg{gen: m.browser.bulk.gen})
		drain(t, m, cmd)
	}
}

func TestBulkDeleteNeedsTypedConfirmation(t *testing.T) {
	f := &fakeBulkKeys{fakeKeys: sampleKeys()}
	m := bulkBrowsing(t, f)
	m.browser.sel = 0 // nalar:
	press(t, m, "D")
	if m.browser.bulk == nil || !strings.Contains(screen(m), "nalar:*") {
		t.Fatalf("no dialog with the node's pattern:\n%s", screen(m))
	}
	press(t, m, "enter") // preview
	bulkPoll(t, m)
	s := screen(m)
	for _, want := range []string{"3 keys match nalar:*", "60.0% of the database", "more than half", "backup on", "type nalar:* (or 3)"} {
		if !strings.Contains(s, want) {
			t.Fatalf("preview lacks %q:\n%s", want, s)
		}
	}
	// Typing q here is text, not quit; a wrong confirmation is refused.
	press(t, m, "q", "enter")
	if len(f.ran) != 0 || !strings.Contains(screen(m), "type the pattern") {
		t.Fatalf("ran without the typed confirmation:\n%s", screen(m))
	}
	m.browser.bulk.confirm.SetValue("3")
	press(t, m, "enter")
	bulkPoll(t, m)
	if len(f.ran) != 1 || f.ran[0].Pattern != "nalar:*" || f.ran[0].Op != "delete" || !f.ran[0].Backup {
		t.Fatalf("ran %+v", f.ran)
	}
	if s := screen(m); !strings.Contains(s, "deleted: 3") {
		t.Fatalf("no report:\n%s", s)
	}
	press(t, m, "enter")
	if m.browser.bulk != nil {
		t.Fatal("dialog still open")
	}
}

func TestBulkCtrlCStopsThenAborts(t *testing.T) {
	f := &fakeBulkKeys{fakeKeys: sampleKeys(), hold: true}
	m := bulkBrowsing(t, f)
	press(t, m, "D", "enter")
	bulkPoll(t, m)
	m.browser.bulk.confirm.SetValue("nalar:*")
	press(t, m, "enter")
	bulkPoll(t, m)
	if s := screen(m); !strings.Contains(s, "deleted 40") || !strings.Contains(s, "esc or ctrl+c stops") {
		t.Fatalf("progress:\n%s", s)
	}
	_, cmd := m.Update(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
	if cmd != nil {
		if _, quit := cmd().(tea.QuitMsg); quit {
			t.Fatal("ctrl+c quit during a run")
		}
	}
	if !f.stopped || f.aborted {
		t.Fatal("first ctrl+c did not ask for a gentle stop")
	}
	m.Update(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
	if !f.aborted {
		t.Fatal("second ctrl+c did not abort")
	}
}

func TestBulkRefusedReadOnlyAndBadInput(t *testing.T) {
	f := &fakeBulkKeys{fakeKeys: sampleKeys()}
	f.caps = KeyCaps{ReadOnly: true, ReadOnlyReason: "connected to a replica"}
	m := bulkBrowsing(t, f)
	press(t, m, "D")
	if m.browser.bulk != nil {
		t.Fatal("bulk offered on a replica")
	}
	f2 := &fakeBulkKeys{fakeKeys: sampleKeys()}
	m2 := bulkBrowsing(t, f2)
	press(t, m2, "E")
	m2.browser.bulk.ttl.SetValue("soon")
	press(t, m2, "enter")
	if m2.browser.bulk.stage != bulkEdit || !strings.Contains(screen(m2), "bad TTL") {
		t.Fatalf("bad TTL accepted:\n%s", screen(m2))
	}
	m2.browser.bulk.pattern.SetValue("[oops")
	m2.browser.bulk.ttl.SetValue("1h")
	press(t, m2, "enter")
	if m2.browser.bulk.stage != bulkEdit || !strings.Contains(screen(m2), "unterminated") {
		t.Fatalf("bad pattern accepted:\n%s", screen(m2))
	}
}

// TestBulkPreviewFits80x24: in an 80x24 terminal the preview's examples
// make way, and every line of the preview, the options and the line to
// type the confirmation in show whole.
func TestBulkPreviewFits80x24(t *testing.T) {
	f := &fakeBulkKeys{fakeKeys: sampleKeys()}
	for i := range 20 {
		f.samples = append(f.samples, fmt.Sprintf("nalar:1:employees:list:page:%d", i))
	}
	m := bulkBrowsing(t, f)
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.browser.sel = 0
	press(t, m, "D", "enter")
	bulkPoll(t, m)
	s := screen(m)
	for _, want := range []string{"3 keys match nalar:*", "of the database", "for example:", "page:0", "ctrl+b backup on", "ctrl+p slow", "and enter to proceed", "esc goes", "> "} {
		if !strings.Contains(s, want) {
			t.Fatalf("80x24 preview lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "page:19") || !strings.Contains(s[strings.Index(s, "> "):], "╰") {
		t.Fatalf("the examples did not make way, or the box is cut:\n%s", s)
	}
}
