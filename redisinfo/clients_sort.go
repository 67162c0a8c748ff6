package redisinfo

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// SortClients sorts cs in place by column by (a CLIENT LIST field name:
// "idle", "omem", "tot-mem", "name", "addr", or one in Extra), ascending
// or descending. Numbers sort as numbers, addresses by host then port.
// Clients that compare equal stay in id order; an unknown column sorts by
// id. Clients that lack the field (an older server) sort as zero or "".
func SortClients(cs []Client, by string, desc bool) {
	cmpCol := clientComparer(by)
	// Sort positions, then move each Client once: a Client is a few
	// hundred bytes, and a comparator taking them by value would copy (and
	// allocate) on every comparison.
	order := make([]int, len(cs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		c := cmpCol(&cs[i], &cs[j])
		if desc {
			c = -c
		}
		if c == 0 {
			c = cmp.Compare(cs[i].ID, cs[j].ID)
		}
		return c
	})
	permuteClients(cs, order)
}

// permuteClients puts what is at cs[order[k]] at cs[k], in place, following
// each cycle of the permutation with one spare Client. It consumes order.
func permuteClients(cs []Client, order []int) {
	for k := range order {
		if order[k] < 0 || order[k] == k {
			continue
		}
		spare := cs[k]
		j := k
		for {
			src := order[j]
			order[j] = -1
			if src == k {
				cs[j] = spare
				break
			}
			cs[j] = cs[src]
			j = src
		}
	}
}

func clientComparer(by string) func(a, b *Client) int {
	i, known := clientColumnIndex[by]
	switch {
	case by == "addr" || by == "laddr":
		s := clientColumns[i].s
		return func(a, b *Client) int { return compareAddr(*s(a), *s(b)) }
	case known && clientColumns[i].kind == kindStr:
		s := clientColumns[i].s
		return func(a, b *Client) int { return strings.Compare(*s(a), *s(b)) }
	case known:
		return func(a, b *Client) int { return cmp.Compare(a.num(i), b.num(i)) }
	}
	return func(a, b *Client) int {
		va, _ := a.extra(by)
		vb, _ := b.extra(by)
		na, errA := strconv.ParseInt(va, 10, 64)
		nb, errB := strconv.ParseInt(vb, 10, 64)
		if errA == nil && errB == nil {
			return cmp.Compare(na, nb)
		}
		return strings.Compare(va, vb)
	}
}

// compareAddr orders "host:port" by host, then by port as a number, so
// :9 comes before :10.
func compareAddr(a, b string) int {
	ha, pa := splitPort(a)
	hb, pb := splitPort(b)
	if c := strings.Compare(ha, hb); c != 0 {
		return c
	}
	return cmp.Compare(pa, pb)
}

func splitPort(addr string) (string, int64) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return addr, -1
	}
	p, err := strconv.ParseInt(addr[i+1:], 10, 64)
	if err != nil {
		return addr, -1
	}
	return addr[:i], p
}

// ClientFilter selects clients. The zero value selects all.
type ClientFilter struct {
	// Text is a substring, matched without regard to case, of the address,
	// name, last command or user.
	Text string
	// Flags are flag letters the client must all have ("P" subscribers,
	// "b" blocked, "x" in MULTI): see FlagNames.
	Flags string
	// HideOwn leaves out redtop's own connections.
	HideOwn bool
}

// ParseClientFilter reads what an operator types in a filter box: words
// "flags:b" (or "f:b") set Flags, "-own" sets HideOwn, the rest is Text.
func ParseClientFilter(s string) ClientFilter {
	var f ClientFilter
	var text []string
	for _, w := range strings.Fields(s) {
		switch {
		case strings.HasPrefix(w, "flags:"):
			f.Flags += w[len("flags:"):]
		case strings.HasPrefix(w, "f:"):
			f.Flags += w[len("f:"):]
		case w == "-own":
			f.HideOwn = true
		default:
			text = append(text, w)
		}
	}
	f.Text = strings.Join(text, " ")
	return f
}

// Match reports whether c passes the filter.
func (f ClientFilter) Match(c *Client) bool {
	if f.HideOwn && c.Own {
		return false
	}
	for _, r := range f.Flags {
		if !strings.ContainsRune(c.Flags, r) {
			return false
		}
	}
	if f.Text == "" {
		return true
	}
	return containsFold(c.Addr, f.Text) || containsFold(c.Name, f.Text) ||
		containsFold(c.Cmd, f.Text) || containsFold(c.User, f.Text)
}

// FilterClients returns the clients that pass f, in order, in a new slice.
func FilterClients(cs []Client, f ClientFilter) []Client {
	out := make([]Client, 0, len(cs))
	for i := range cs {
		if f.Match(&cs[i]) {
			out = append(out, cs[i])
		}
	}
	return out
}

// containsFold is strings.Contains without regard to case, without
// allocating.
func containsFold(s, sub string) bool {
	if sub == "" {
		return true
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// clientFlags are the letters of CLIENT LIST's flags field (Redis 5–7.x).
var clientFlags = map[rune]string{
	'A': "closing",
	'b': "blocked",
	'B': "tracking-bcast",
	'c': "close-after-reply",
	'd': "watched-key-changed",
	'e': "no-evict",
	'M': "master",
	'N': "none",
	'O': "monitor",
	'P': "pubsub",
	'r': "readonly",
	'R': "tracking-broken",
	'S': "replica",
	't': "tracking",
	'T': "no-touch",
	'u': "unblocked",
	'U': "unix-socket",
	'x': "multi",
}

// FlagNames spells out a flags field ("Pb" → pubsub, blocked), so a flag
// is never shown as a bare letter only. "N" (none) gives nothing; an
// unknown letter is kept as "flag X".
func FlagNames(flags string) []string {
	var names []string
	for _, r := range flags {
		if r == 'N' {
			continue
		}
		if n, ok := clientFlags[r]; ok {
			names = append(names, n)
		} else {
			names = append(names, "flag "+string(r))
		}
	}
	return names
}
