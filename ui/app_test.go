package ui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"redtop/redisinfo"
)

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// noSource fails the test if the model polls by itself during a test that
// feeds it messages directly.
type noSource struct{}

func (noSource) Poll(context.Context) []redisinfo.NodeSample { return nil }

func loadInfo(t *testing.T, name string) redisinfo.Info {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return redisinfo.Parse(string(b))
}

func newTestModel(t *testing.T, w, h int) (*Model, *clock) {
	t.Helper()
	c := &clock{t: t0}
	m := New(context.Background(), Config{Source: noSource{}, Target: "127.0.0.1:6379", DB: 1, Interval: time.Second, Now: c.now})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return m, c
}

// feed delivers one good poll of node "n" with info at the clock's time.
func feed(m *Model, c *clock, in redisinfo.Info) tea.Cmd {
	_, cmd := m.Update(polledMsg{gen: m.gen, samples: []redisinfo.NodeSample{{Node: "n", At: c.now(), RTT: 300 * time.Microsecond, Info: in}}})
	return cmd
}

func feedErr(m *Model, c *clock, err error) tea.Cmd {
	_, cmd := m.Update(polledMsg{gen: m.gen, samples: []redisinfo.NodeSample{{Node: "n", At: c.now(), Err: err}}})
	return cmd
}

func screen(m *Model) string { return ansi.Strip(m.View().Content) }

// loaded returns a model that has seen two real INFO captures a second apart.
func loaded(t *testing.T, w, h int) (*Model, *clock) {
	m, c := newTestModel(t, w, h)
	a, b := loadInfo(t, "info-1.txt"), loadInfo(t, "info-2.txt")
	feed(m, c, a)
	c.t = c.t.Add(time.Second)
	feed(m, c, b)
	c.t = c.t.Add(300 * time.Millisecond)
	return m, c
}

func TestGoldenOverview(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}, {60, 18}} {
		t.Run(fmt.Sprintf("%03dx%03d", size[0], size[1]), func(t *testing.T) {
			m, _ := loaded(t, size[0], size[1])
			golden.RequireEqual(t, []byte(screen(m)))
		})
	}
}

func itoa(n int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + string(rune('0'+n/100%10)) + string(rune('0'+n/10%10)) + string(rune('0'+n%10)))
}

func TestEveryLineFitsAtEverySize(t *testing.T) {
	a, b := loadInfo(t, "info-1.txt"), loadInfo(t, "info-2.txt")
	for w := 0; w <= 140; w += 7 {
		for h := 0; h <= 50; h += 3 {
			m, c := newTestModel(t, w, h)
			feed(m, c, a)
			c.t = c.t.Add(time.Second)
			feed(m, c, b)
			out := m.View().Content
			if w == 0 || h == 0 {
				if out != "" {
					t.Fatalf("%dx%d: drew %q", w, h, out)
				}
				continue
			}
			lines := strings.Split(out, "\n")
			if w >= minWidth && h >= minHeight && len(lines) != h {
				t.Fatalf("%dx%d: %d lines", w, h, len(lines))
			}
			for i, l := range lines {
				if lw := lipgloss.Width(l); lw > w {
					t.Fatalf("%dx%d: line %d is %d wide: %q", w, h, i, lw, ansi.Strip(l))
				}
			}
			if (w < minWidth || h < minHeight) && !strings.Contains(ansi.Strip(out), "too small") && w > 20 {
				t.Fatalf("%dx%d: no too-small message: %q", w, h, out)
			}
		}
	}
}

func TestStatesAreWordsNotOnlyColour(t *testing.T) {
	m, c := loaded(t, 80, 24)
	s := screen(m)
	for _, want := range []string{"● live", "▶db1", "aof on", "rdb no save since start", "master"} {
		if !strings.Contains(s, want) {
			t.Errorf("screen lacks %q:\n%s", want, s)
		}
	}
	// A server near maxmemory says so in words.
	in := loadInfo(t, "info-2.txt")
	in.Fields["used_memory"] = "64000000"
	c.t = c.t.Add(time.Second)
	feed(m, c, in)
	if s := screen(m); !strings.Contains(s, "% crit") {
		t.Errorf("memory pressure not in words:\n%s", s)
	}
}

func TestQuitAndHelpKeys(t *testing.T) {
	m, _ := loaded(t, 80, 24)
	_, cmd := m.Update(tea.KeyPressMsg{Code: '?', Text: "?"})
	if cmd != nil || !m.showHelp || !strings.Contains(screen(m), "restart windows") {
		t.Fatalf("? did not open the full help:\n%s", screen(m))
	}
	m.Update(tea.KeyPressMsg{Code: '?', Text: "?"})
	if m.showHelp {
		t.Fatal("? did not close the help")
	}
	_, cmd = m.Update(tea.KeyPressMsg{Code: 'q', Text: "q"})
	if cmd == nil {
		t.Fatal("q returned no command")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("q did not quit")
	}
	_, cmd = m.Update(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("ctrl+c did not quit")
	}
}

func TestDisconnectShowsStaleThenRecovers(t *testing.T) {
	m, c := loaded(t, 100, 30)
	c.t = c.t.Add(time.Second)
	feedErr(m, c, errors.New("cannot connect to 127.0.0.1:6379: connection refused"))
	s := screen(m)
	for _, want := range []string{"✖ DOWN", "stale", "retry in 1s", "connection refused", "Hit rate · stale"} {
		if !strings.Contains(s, want) {
			t.Errorf("down screen lacks %q:\n%s", want, s)
		}
	}
	// Last good numbers stay on screen.
	if !strings.Contains(s, "used ") {
		t.Errorf("last numbers gone:\n%s", s)
	}
	// Backoff grows and stays at or under 5 s.
	var waits []time.Duration
	for i := 0; i < 6; i++ {
		c.t = c.t.Add(time.Second)
		feedErr(m, c, errors.New("refused"))
		waits = append(waits, m.conn.nextTry.Sub(c.t))
	}
	want := []time.Duration{2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("backoff %v, want %v", waits, want)
		}
	}
	c.t = c.t.Add(5 * time.Second)
	feed(m, c, loadInfo(t, "info-2.txt"))
	s = screen(m)
	if !strings.Contains(s, "reconnected after") || !strings.Contains(s, "● live") || strings.Contains(s, "stale") {
		t.Fatalf("no recovery:\n%s", s)
	}
}

func TestPollLoopNeverOverlaps(t *testing.T) {
	m, c := newTestModel(t, 80, 24)
	if m.Init() == nil || !m.inflight {
		t.Fatal("Init does not poll at once")
	}
	// A tick while a poll is in flight does nothing.
	if _, cmd := m.Update(tickMsg{gen: m.gen}); cmd != nil {
		t.Fatal("tick started a second poll")
	}
	if cmd := feed(m, c, loadInfo(t, "info-1.txt")); cmd == nil || m.inflight {
		t.Fatal("result did not re-arm the loop")
	}
	// Changing the interval starts a new loop; the old loop's tick is dropped.
	old := m.gen
	m.Update(tea.KeyPressMsg{Code: '+', Text: "+"})
	if m.interval != 500*time.Millisecond {
		t.Fatalf("interval %v", m.interval)
	}
	if _, cmd := m.Update(tickMsg{gen: old}); cmd != nil {
		t.Fatal("stale tick polled")
	}
	if _, cmd := m.Update(tickMsg{gen: m.gen}); cmd == nil || !m.inflight {
		t.Fatal("current tick did not poll")
	}
}

func TestPauseFreezesAndResumes(t *testing.T) {
	m, c := loaded(t, 80, 24)
	m.Update(tea.KeyPressMsg{Code: 'p', Text: "p"})
	if !strings.Contains(screen(m), "PAUSED") {
		t.Fatalf("no pause marker:\n%s", screen(m))
	}
	before := m.overview.snap.At
	c.t = c.t.Add(time.Second)
	feed(m, c, loadInfo(t, "info-2.txt"))
	if m.overview.snap.At != before {
		t.Fatal("paused view changed")
	}
	_, cmd := m.Update(tea.KeyPressMsg{Code: 'p', Text: "p"})
	if cmd == nil || !m.inflight {
		t.Fatal("resume did not poll")
	}
}

func TestResetWindowsKey(t *testing.T) {
	m, c := loaded(t, 80, 24)
	m.Update(tea.KeyPressMsg{Code: 'r', Text: "r"})
	c.t = c.t.Add(time.Second)
	feed(m, c, loadInfo(t, "info-2.txt"))
	if s := screen(m); !strings.Contains(s, "↺ since 10:00:01") {
		t.Fatalf("reset not shown:\n%s", s)
	}
}

func TestStatusTimerSequence(t *testing.T) {
	m, _ := loaded(t, 80, 24)
	m.setStatus(infoLevel, "first", time.Second)
	old := m.status.seq
	m.setStatus(infoLevel, "second", time.Second)
	m.Update(clearStatusMsg{seq: old})
	if m.status.text != "second" {
		t.Fatal("an old timer wiped a newer message")
	}
	m.Update(clearStatusMsg{seq: m.status.seq})
	if m.status.text != "" {
		t.Fatal("message not cleared")
	}
}
