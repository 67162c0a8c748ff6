package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// TestEveryPaneFitsAtEverySize: every pane, in every mode it has, draws
// exactly the terminal's lines and never a line wider than the terminal.
func TestEveryPaneFitsAtEverySize(t *testing.T) {
	a := &fakeActivity{
		clients: []ClientRow{{ID: 1, Name: "a-very-long-client-name-indeed", Addr: "10.0.0.7:41234", Cmd: "client|list", Own: true}},
		slow:    SlowlogData{Entries: []SlowEntry{{ID: 1, Time: t0, Duration: time.Second, Command: strings.Repeat("x", 300), Client: "1.2.3.4:5"}}},
	}
	for w := 20; w <= 150; w += 26 {
		for h := 10; h <= 50; h += 13 {
			c := &clock{t: t0}
			m := New(t.Context(), Config{Source: noSource{}, Target: "127.0.0.1:6379", Interval: time.Second, Now: c.now,
				Keys: &fakeBulkKeys{fakeKeys: sampleKeys()}, Activity: a, Glob: globMatch})
			m.Update(tea.WindowSizeMsg{Width: w, Height: h})
			check := func(what string) {
				t.Helper()
				lines := strings.Split(m.View().Content, "\n")
				if w >= minWidth && h >= minHeight && len(lines) != h {
					t.Fatalf("%s at %dx%d: %d lines", what, w, h, len(lines))
				}
				for i, l := range lines {
					if lw := lipgloss.Width(l); lw > w {
						t.Fatalf("%s at %dx%d: line %d is %d wide: %q", what, w, h, i, lw, ansi.Strip(l))
					}
				}
			}
			for _, keys := range [][]string{{"2"}, {"enter"}, {"enter"}, {"esc", "esc", "D"}, {"esc", "3"}, {"K"}, {"esc", "4"}, {"5", "s"}, {"y"}, {"v"}, {"?"}} {
				press(t, m, keys...)
				check(fmt.Sprint(keys))
			}
		}
	}
}
