package ui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// prompt is a modal line of input: a value to enter (a TTL, a filter) or a
// confirmation. While it is open it captures every key, so typing q in a
// pattern does not quit.
type prompt struct {
	title  string
	body   []string // lines above the input, already escaped
	want   string   // typed confirmation: the exact text to type; "" for none
	yesNo  bool     // a plain y/n confirmation: no input line
	input  textinput.Model
	err    string
	submit func(value string) (tea.Cmd, string) // returns a command, or an error to show and stay open
}

func newPrompt(title, placeholder, value string, submit func(string) (tea.Cmd, string)) *prompt {
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = placeholder
	in.SetValue(value)
	in.CharLimit = 4096
	in.Focus()
	return &prompt{title: title, input: in, submit: submit}
}

func newConfirm(title string, body []string, submit func() tea.Cmd) *prompt {
	p := newPrompt(title, "", "", func(string) (tea.Cmd, string) { return submit(), "" })
	p.body, p.yesNo = body, true
	return p
}

// update handles a key; done reports that the prompt closed.
func (p *prompt) update(msg tea.Msg) (done bool, cmd tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case k.String() == "esc":
			return true, nil
		case p.yesNo:
			switch k.String() {
			case "y", "Y", "enter":
				cmd, _ := p.submit("")
				return true, cmd
			case "n", "N", "q":
				return true, nil
			}
			return false, nil
		case k.String() == "enter":
			v := p.input.Value()
			if p.want != "" && v != p.want {
				p.err = "type exactly what is shown to confirm, or esc to cancel"
				return false, nil
			}
			cmd, err := p.submit(v)
			if err != "" {
				p.err = err
				return false, nil
			}
			return true, cmd
		}
	}
	var c tea.Cmd
	p.input, c = p.input.Update(msg)
	p.err = ""
	return false, c
}

// view draws the prompt as a box w cells wide. Its text wraps to the
// box, so nothing it says is cut off in a narrow terminal.
func (p *prompt) view(st *Styles, w int) string {
	var lines []string
	add := func(s string) {
		lines = append(lines, wrapLines(s, w-4)...)
	}
	for _, l := range p.body {
		add(l)
	}
	if p.want != "" {
		add("type " + st.Title.Render(p.want) + " to confirm")
	}
	if p.yesNo {
		add(st.Title.Render("y") + " confirm  " + st.Title.Render("n") + "/esc cancel")
	} else {
		p.input.SetWidth(max(10, w-6))
		lines = append(lines, p.input.View())
	}
	if p.err != "" {
		add(st.Crit.Render("✖ ") + p.err)
	}
	for i := range lines {
		lines[i] = " " + lines[i]
	}
	return frame(*st, p.title, lines, w, len(lines)+2)
}

// overlay puts box over the middle of screen (both exactly as wide as
// each other's lines allow), keeping the screen's height.
func overlay(screen, box string, width int) string {
	sl := strings.Split(screen, "\n")
	bl := strings.Split(box, "\n")
	top := max(0, (len(sl)-len(bl))/2)
	for i, b := range bl {
		if top+i >= len(sl) {
			break
		}
		pad := max(0, (width-lipgloss.Width(b))/2)
		sl[top+i] = fit(strings.Repeat(" ", pad)+b, width)
	}
	return strings.Join(sl, "\n")
}

// updatePrompt gives msg to the open prompt *p, closing it when it is done.
func updatePrompt(p **prompt, msg tea.Msg) tea.Cmd {
	done, cmd := (*p).update(msg)
	if done {
		*p = nil
	}
	return cmd
}

// navKeys move a selection through a table.
type navKeys struct {
	Up, Down, PageUp, PageDown key.Binding
}

func defaultNavKeys() navKeys {
	b := func(keys []string, k, h string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, h))
	}
	return navKeys{
		Up: b([]string{"up", "k"}, "↑/k", "up"), Down: b([]string{"down", "j"}, "↓/j", "down"),
		PageUp: b([]string{"pgup"}, "pgup", "page up"), PageDown: b([]string{"pgdown"}, "pgdn", "page down"),
	}
}

// move returns the selection after k in a table of n rows showing page of
// them, and whether k was a navigation key.
func (nk navKeys) move(k tea.KeyPressMsg, sel, n, page int) (int, bool) {
	last := max(0, n-1)
	switch {
	case key.Matches(k, nk.Up):
		return max(0, sel-1), true
	case key.Matches(k, nk.Down):
		return min(last, sel+1), true
	case key.Matches(k, nk.PageUp):
		return max(0, sel-page), true
	case key.Matches(k, nk.PageDown):
		return min(last, sel+page), true
	}
	return sel, false
}
