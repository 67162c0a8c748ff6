package ui

import (
	"fmt"
	"time"

	"charm.land/lipgloss/v2"
)

// level of a status message, shown as a symbol as well as a colour.
type level int

const (
	infoLevel level = iota
	okLevel
	warnLevel
	errLevel
)

// statusLine is the short-lived message at the bottom of the screen.
type statusLine struct {
	text  string
	level level
	seq   int
}

// connState tracks the connection as the poll results tell it.
type connState struct {
	everOK    bool
	lastOK    time.Time // arrival of the last good sample
	downSince time.Time // zero while up
	failures  int       // consecutive failed polls
	nextTry   time.Time
	lastErr   string
	failing   int // nodes failing in the last poll, when some answered
	nodes     int
}

func (c connState) down() bool { return !c.downSince.IsZero() }

// backoff is the wait before the next try after n consecutive failures:
// 1s, 2s, 4s, then 5s, never longer.
func backoff(n int, interval time.Duration) time.Duration {
	if n <= 0 {
		return interval
	}
	d := time.Second << min(n-1, 3)
	return min(d, 5*time.Second)
}

// topBar is the first line: target and connection state, in words.
func (m *Model) topBar() string {
	st := m.styles
	now := m.now()
	c := m.conn
	target := fmt.Sprintf(" db%d %s", m.cfg.DB, m.cfg.Target)
	var state, live string // live: the state in short, when it is ● live
	switch {
	case m.paused:
		state = st.Warn.Render("‖ PAUSED") + st.Muted.Render(fmt.Sprintf(" data %s old", age(now.Sub(c.lastOK))))
	case c.down() && c.everOK:
		state = st.Crit.Render(fmt.Sprintf("✖ DOWN %s", age(now.Sub(c.downSince)))) +
			fmt.Sprintf(" · stale: last data %s (%s old) · %s",
				c.lastOK.Format("15:04:05"), age(now.Sub(c.lastOK)), retryIn(c.nextTry.Sub(now)))
	case c.down():
		state = st.Crit.Render("✖ cannot connect") + " · " + retryIn(c.nextTry.Sub(now))
	case !c.everOK:
		state = st.Muted.Render("◌ connecting…")
	case c.failing > 0:
		state = st.Warn.Render(fmt.Sprintf("◐ %d of %d nodes failing", c.failing, c.nodes)) + fmt.Sprintf(" · %s ago", age(now.Sub(c.lastOK)))
	default:
		state = st.OK.Render("● live") + st.Muted.Render(fmt.Sprintf(" %s ago · every %s", age(now.Sub(c.lastOK)), age(m.interval)))
		live = st.OK.Render("● live") + st.Muted.Render(fmt.Sprintf(" %s ago", age(now.Sub(c.lastOK))))
	}
	tabs := func(all bool) string {
		out := ""
		for i, n := range m.order {
			switch {
			case focus(i) == m.focus:
				out += st.Selected.Render("["+n.name+"]") + " "
			case all:
				out += st.Muted.Render(n.name) + " "
			}
		}
		return out
	}
	left := st.Bar.Render("redtop") + " "
	if len(m.order) > 1 {
		left += tabs(true)
	}
	if m.node != "" {
		// The node shown must stay on screen: the other tabs give way
		// before it does.
		target = " " + st.Selected.Render("node "+m.node) + " ·" + target
		if lipgloss.Width(left+state+" │"+target) > m.width && len(m.order) > 1 {
			left = st.Bar.Render("redtop") + " " + tabs(false)
		}
		if lipgloss.Width(left+state+" │"+target) > m.width && live != "" {
			state = live
		}
	}
	left += state
	// The state matters more than the target: the target gives way first.
	return fit(left+st.Muted.Render(" │")+target, m.width)
}

// bottomLine is the status message when there is one, else the short help.
func (m *Model) bottomLine() string {
	st := m.styles
	if m.status.text != "" {
		sym := map[level]string{infoLevel: "·", okLevel: "✔", warnLevel: "!", errLevel: "✖"}[m.status.level]
		style := map[level]func(...string) string{
			infoLevel: st.Muted.Render, okLevel: st.OK.Render, warnLevel: st.Warn.Render, errLevel: st.Crit.Render,
		}[m.status.level]
		return fit(style(sym)+" "+m.status.text, m.width)
	}
	if m.showHelp {
		return fit(st.Muted.Render("? close help"), m.width)
	}
	m.help.SetWidth(m.width)
	return fit(m.help.ShortHelpView(m.helpKeys().ShortHelp()), m.width)
}

func retryIn(d time.Duration) string {
	if d < 500*time.Millisecond {
		return "retrying…"
	}
	return "retry in " + age(d.Round(time.Second))
}
