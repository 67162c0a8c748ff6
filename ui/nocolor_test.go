package ui

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
)

// colours lists the SGR sequences in s that set a colour.
func colours(s []byte) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\x1b\[([0-9;:]*)m`).FindAllSubmatch(s, -1) {
		for _, p := range strings.FieldsFunc(string(m[1]), func(r rune) bool { return r == ';' || r == ':' }) {
			n, _ := strconv.Atoi(p)
			if (n >= 30 && n <= 38) || (n >= 40 && n <= 48) || (n >= 90 && n <= 97) || (n >= 100 && n <= 107) {
				out = append(out, string(m[0]))
				break
			}
		}
	}
	return out
}

// TestNoColor renders the screen through the colour profile Bubble Tea
// picks from the environment: NO_COLOR leaves no colour at all, and the
// states are still there in words.
func TestNoColor(t *testing.T) {
	m, c := loaded(t, 100, 30)
	in := loadInfo(t, "info-2.txt")
	in.Fields["used_memory"] = "64000000"
	c.t = c.t.Add(1e9)
	feed(m, c, in)
	view := m.View().Content

	render := func(env ...string) []byte {
		var b bytes.Buffer
		w := &colorprofile.Writer{Forward: &b, Profile: colorprofile.Env(env)}
		w.WriteString(view)
		return b.Bytes()
	}
	if got := colours(render("TERM=xterm-256color", "COLORTERM=truecolor")); len(got) == 0 {
		t.Fatal("control: no colour even with a truecolor terminal; the test cannot see colour")
	}
	out := render("TERM=xterm-256color", "COLORTERM=truecolor", "NO_COLOR=1")
	if got := colours(out); len(got) > 0 {
		t.Fatalf("colour with NO_COLOR: %q", got[:min(3, len(got))])
	}
	for _, want := range []string{"● live", "% crit", "▶db1", "aof on"} {
		if !strings.Contains(ansi.Strip(string(out)), want) {
			t.Errorf("NO_COLOR screen lacks %q", want)
		}
	}
}
