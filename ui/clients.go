package ui

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// clientsRefresh is how often CLIENT LIST is read while the pane shows.
const clientsRefresh = 2 * time.Second

type (
	clientsMsg struct {
		gen  int
		rows []ClientRow
		err  error
	}
	clientsTickMsg struct{ gen int }
	permMsg        struct {
		feature string
		ok      bool
		why     string
	}
	killMsg struct {
		id     int64
		result string
		err    error
	}
)

var clientSorts = []string{"id", "name", "addr", "age", "idle", "db", "cmd", "flags", "omem", "tot-mem"}

type clientKeys struct {
	navKeys
	Sort, Reverse, Filter key.Binding
	Kill, Refresh         key.Binding
}

// clientsPane lists the server's connections (CLIENT LIST).
type clientsPane struct {
	ctx      context.Context
	st       *Styles
	src      ActivitySource
	readOnly bool
	k        clientKeys
	w, h     int
	node     string // the node listed; "" for the default one
	seed     string // the default node's name in the header; "" off a cluster

	gen     int // refresh loop; changes when the pane hides or the node changes
	active  bool
	denied  string // why CLIENT LIST may not be used
	rows    []ClientRow
	shown   []ClientRow // rows filtered and sorted (reshow)
	err     string
	at      time.Time
	sel     int
	sortCol int
	desc    bool
	filter  string
	tbl     table
	prompt  *prompt
	now     func() time.Time
}

func newClientsPane(ctx context.Context, st *Styles, src ActivitySource, seed string, readOnly bool, now func() time.Time) *clientsPane {
	b := func(keys []string, k, h string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, h))
	}
	p := &clientsPane{ctx: ctx, st: st, src: src, seed: seed, readOnly: readOnly, now: now, sortCol: 0,
		k: clientKeys{
			navKeys: defaultNavKeys(),
			Sort:    b([]string{"s"}, "s", "sort column"), Reverse: b([]string{"S"}, "S", "reverse"),
			Filter: b([]string{"/"}, "/", "filter"), Kill: b([]string{"K"}, "K", "kill client"),
			Refresh: b([]string{"R"}, "R", "refresh"),
		},
		// In 80 columns, tot-mem, omem, flags and db make way for the
		// address (an IPv4 address and port is 21 cells).
		tbl: table{minFlex: 21, cols: []column{
			{title: "id", width: 7, right: true}, {title: "name", width: 14}, {title: "addr"},
			{title: "age", width: 7, right: true}, {title: "idle", width: 7, right: true}, {title: "db", width: 3, right: true, drop: 4},
			{title: "cmd", width: 12}, {title: "flags", width: 5, drop: 3}, {title: "omem", width: 7, right: true, drop: 2}, {title: "tot-mem", width: 8, right: true, drop: 1},
		}},
	}
	if readOnly {
		p.k.Kill.SetEnabled(false)
	}
	return p
}

func (p *clientsPane) SetSize(w, h int) { p.w, p.h = w, h }
func (p *clientsPane) Capturing() bool  { return p.prompt != nil }

func (p *clientsPane) KeyMap() help.KeyMap {
	return simpleHelp{short: []key.Binding{p.k.Sort, p.k.Reverse, p.k.Filter, p.k.Kill},
		full: [][]key.Binding{{p.k.Up, p.k.Down, p.k.PageUp, p.k.PageDown}, {p.k.Sort, p.k.Reverse, p.k.Filter, p.k.Refresh}, {p.k.Kill}}}
}

// activate starts the refresh loop; deactivate stops it.
func (p *clientsPane) activate() tea.Cmd {
	p.active = true
	p.gen++
	return tea.Batch(permCmd(p.ctx, p.src, "clients"), p.fetch())
}

func (p *clientsPane) deactivate() { p.active = false; p.gen++ }

// setNode lists another node's clients: the rows of the last one go, a
// reply still on its way from it is dropped (gen).
func (p *clientsPane) setNode(node string) tea.Cmd {
	if node == p.node {
		return nil
	}
	p.node, p.rows, p.shown, p.err, p.at, p.sel = node, nil, nil, "", time.Time{}, 0
	p.gen++
	if !p.active {
		return nil
	}
	return p.fetch()
}

func (p *clientsPane) fetch() tea.Cmd {
	if p.denied != "" {
		return nil
	}
	ctx, src, gen, node := p.ctx, p.src, p.gen, p.node
	return func() tea.Msg {
		rows, err := src.Clients(ctx, node)
		return clientsMsg{gen: gen, rows: rows, err: err}
	}
}

func permCmd(ctx context.Context, src ActivitySource, feature string) tea.Cmd {
	return func() tea.Msg {
		ok, why := src.Allowed(ctx, feature)
		return permMsg{feature: feature, ok: ok, why: why}
	}
}

func (p *clientsPane) handleData(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case permMsg:
		switch msg.feature {
		case "clients":
			if !msg.ok {
				p.denied = msg.why
			}
		case "kill":
			if !msg.ok {
				p.k.Kill.SetEnabled(false)
			}
		default:
			return nil, false
		}
		return nil, true
	case clientsMsg:
		if msg.gen != p.gen {
			return nil, true
		}
		if msg.err != nil {
			p.err = msg.err.Error()
		} else {
			p.rows, p.err, p.at = msg.rows, "", p.now()
			p.reshow()
		}
		gen := p.gen
		return tea.Tick(clientsRefresh, func(time.Time) tea.Msg { return clientsTickMsg{gen: gen} }), true
	case clientsTickMsg:
		if msg.gen == p.gen && p.active {
			return p.fetch(), true
		}
		return nil, true
	case killMsg:
		if msg.err != nil {
			return status(errLevel, fmt.Sprintf("CLIENT KILL ID %d: %v", msg.id, msg.err)), true
		}
		return tea.Batch(status(okLevel, fmt.Sprintf("client %d: %s", msg.id, msg.result)), p.fetch()), true
	}
	return nil, false
}

// visible is the rows after the filter, sorted: computed when the rows,
// the filter or the order change (reshow), not by each frame.
func (p *clientsPane) visible() []ClientRow { return p.shown }

// reshow filters and sorts the rows again.
func (p *clientsPane) reshow() { p.shown = p.filtered() }

func (p *clientsPane) filtered() []ClientRow {
	out := make([]ClientRow, 0, len(p.rows))
	f := strings.ToLower(p.filter)
	for _, r := range p.rows {
		if f != "" && !strings.Contains(strings.ToLower(r.Name+" "+r.Addr+" "+r.Cmd+" "+r.User+" "+r.Flags), f) {
			continue
		}
		out = append(out, r)
	}
	by := clientSorts[p.sortCol]
	var addrs map[string]netip.AddrPort
	if by == "addr" {
		addrs = make(map[string]netip.AddrPort, len(out))
		for _, r := range out {
			if ap, err := netip.ParseAddrPort(r.Addr); err == nil {
				addrs[r.Addr] = ap
			}
		}
	}
	slices.SortStableFunc(out, func(a, b ClientRow) int {
		var c int
		switch by {
		case "name":
			c = cmp.Compare(a.Name, b.Name)
		case "addr":
			c = compareAddrs(addrs, a.Addr, b.Addr)
		case "age":
			c = cmp.Compare(a.Age, b.Age)
		case "idle":
			c = cmp.Compare(a.Idle, b.Idle)
		case "db":
			c = cmp.Compare(a.DB, b.DB)
		case "cmd":
			c = cmp.Compare(a.Cmd, b.Cmd)
		case "flags":
			c = cmp.Compare(a.Flags, b.Flags)
		case "omem":
			c = cmp.Compare(a.Omem, b.Omem)
		case "tot-mem":
			c = cmp.Compare(a.TotMem, b.TotMem)
		}
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if p.desc {
			return -c
		}
		return c
	})
	return out
}

func (p *clientsPane) Update(msg tea.Msg) tea.Cmd {
	if p.prompt != nil {
		return updatePrompt(&p.prompt, msg)
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	rows := p.visible()
	if sel, ok := p.k.move(k, p.sel, len(rows), max(1, p.h-4)); ok {
		p.sel = sel
		return nil
	}
	switch {
	case key.Matches(k, p.k.Sort):
		p.sortCol = (p.sortCol + 1) % len(clientSorts)
		p.reshow()
	case key.Matches(k, p.k.Reverse):
		p.desc = !p.desc
		p.reshow()
	case key.Matches(k, p.k.Refresh):
		return p.fetch()
	case key.Matches(k, p.k.Filter):
		p.prompt = newPrompt("Filter clients (name, address, command, user, flags)", "e.g. 10.0.0.7 or celery", p.filter, func(v string) (tea.Cmd, string) {
			p.filter, p.sel = v, 0
			p.reshow()
			return nil, ""
		})
	case key.Matches(k, p.k.Kill):
		if p.readOnly {
			return status(warnLevel, "read-only: CLIENT KILL is disabled")
		}
		if p.sel >= len(rows) {
			return nil
		}
		r := rows[p.sel]
		who := fmt.Sprintf("id %d %s", r.ID, r.Addr)
		if r.Name != "" {
			who += " (" + r.Name + ")"
		}
		body := []string{"CLIENT KILL ID " + strconv.FormatInt(r.ID, 10) + ": " + p.st.Title.Render(who)}
		if r.Own {
			body = append(body, p.st.Warn.Render("this is one of redtop's own connections"))
		}
		ctx, src, id, node := p.ctx, p.src, r.ID, p.node
		if name := nodeName(node, p.seed); name != "" {
			body = append(body, "on node "+name)
		}
		p.prompt = newConfirm("Kill a client", body, func() tea.Cmd {
			return func() tea.Msg {
				res, err := src.KillClient(ctx, node, id)
				return killMsg{id: id, result: res, err: err}
			}
		})
	}
	return nil
}

func (p *clientsPane) View() string {
	st := p.st
	title := "Clients"
	var lines []string
	switch {
	case p.denied != "":
		lines = append(lines, " "+st.Warn.Render("! ")+"CLIENT LIST is not available: "+p.denied)
	case p.err != "":
		lines = append(lines, " "+st.Crit.Render("✖ ")+p.err)
	}
	rows := p.visible()
	if name := nodeName(p.node, p.seed); name != "" {
		title += " · " + name
	}
	if p.denied == "" {
		title += fmt.Sprintf(" · %d connected", len(p.rows))
		if p.filter != "" {
			title += fmt.Sprintf(" · %d match %q", len(rows), p.filter)
		}
		if !p.at.IsZero() {
			title += " · read " + age(p.now().Sub(p.at)) + " ago"
		}
		cell := func(i int) []string {
			r := rows[i]
			name := r.Name
			if r.Own {
				name = "◆" + name
			}
			return []string{strconv.FormatInt(r.ID, 10), name, r.Addr, age(r.Age), age(r.Idle), strconv.Itoa(r.DB),
				r.Cmd, r.Flags, size(r.Omem), size(r.TotMem)}
		}
		if p.sel >= len(rows) {
			p.sel = max(0, len(rows)-1)
		}
		lines = append(lines, p.tbl.render(st, p.w-3, p.h-4, p.sel, len(rows), cell, p.sortCol, p.desc)...)
	}
	for len(lines) < p.h-3 {
		lines = append(lines, "")
	}
	foot := "◆ marks redtop's own connections · sorted by " + clientSorts[p.sortCol]
	if p.readOnly {
		foot += " · read-only: no CLIENT KILL"
	}
	lines = append(lines[:p.h-3], " "+st.Muted.Render(foot))
	out := frame(*st, title, lines, p.w, p.h)
	if p.prompt != nil {
		out = overlay(out, p.prompt.view(st, min(p.w, max(50, p.w*3/4))), p.w)
	}
	return out
}

// nodeName is the node a pane shows, for its header: node, or the default
// node's name seed; "" off a cluster, where the top bar says it all.
func nodeName(node, seed string) string {
	if node != "" {
		return node
	}
	return seed
}

// simpleHelp is a help.KeyMap from fixed lists.
type simpleHelp struct {
	short []key.Binding
	full  [][]key.Binding
}

func (h simpleHelp) ShortHelp() []key.Binding  { return h.short }
func (h simpleHelp) FullHelp() [][]key.Binding { return h.full }

// compareAddrs orders client addresses as addresses: by IP (IPv4 before
// IPv6), then port as a number, so 10.0.0.9 comes before 10.0.0.10 and
// :6379 before :10000. Addresses that are not IP:port (a unix socket's
// client) come after, by name. parsed holds the IP:port ones.
func compareAddrs(parsed map[string]netip.AddrPort, a, b string) int {
	pa, oka := parsed[a]
	pb, okb := parsed[b]
	switch {
	case oka && okb:
		return pa.Compare(pb)
	case oka != okb:
		if oka {
			return -1
		}
		return 1
	}
	return cmp.Compare(a, b)
}
