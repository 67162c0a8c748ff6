package redisinfo

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/conn"
)

// Client is one connection from CLIENT LIST. Fields the server did not
// send (older versions lack laddr, user, resp…) are zero: Has tells them
// apart from a real zero. Strings are as the server sent them, not
// escaped: use Value to show them.
type Client struct {
	ID       int64
	Addr     string // ip:port, or path:0 for a unix socket
	LAddr    string // the address the client connected to (6.2+)
	FD       int64  // -1 for a client without a socket (Lua, modules)
	Name     string
	Age      time.Duration // since the connection was made
	Idle     time.Duration // since its last command
	Flags    string        // one letter each, "N" for none (as CLIENT LIST sends them)
	DB       int
	Sub      int64 // channels subscribed
	PSub     int64 // patterns subscribed
	SSub     int64 // shard channels subscribed (7.0+)
	Multi    int64 // commands queued in MULTI, -1 outside one
	QBuf     int64 // query buffer length
	QBufFree int64
	ArgvMem  int64 // arguments of the next command (6.2+)
	MultiMem int64 // commands queued in MULTI (7.0+)
	RBS      int64 // read buffer size (7.0+)
	RBP      int64 // read buffer peak (7.0+)
	OBL      int64 // output buffer length
	OLL      int64 // output list length (replies queued)
	OMem     int64 // output buffer memory
	TotMem   int64 // all memory the connection uses (6.2+)
	Events   string
	Cmd      string // last command, "client|list" style
	User     string // ACL user (6.0+)
	Redir    int64  // client tracking redirection, -1 when none (6.2+)
	Resp     int    // protocol version (7.0+)
	LibName  string // client library (7.2+)
	LibVer   string

	// Extra holds the fields redtop does not know, in the server's order.
	Extra []ClientField

	// Own marks redtop's own connections (named "redtop…"): this
	// dashboard's, or another redtop's on the same server.
	Own bool

	has uint64 // bit i: clientColumns[i] was sent
}

// ClientField is one name=value pair of CLIENT LIST.
type ClientField struct{ Key, Value string }

type columnKind uint8

const (
	kindInt columnKind = iota
	kindStr
	kindSeconds
	kindDB   // Client.DB, an int
	kindResp // Client.Resp, an int
)

type clientColumn struct {
	name string
	kind columnKind
	i    func(*Client) *int64
	s    func(*Client) *string
	d    func(*Client) *time.Duration
}

// clientColumns are the fields Client has, in CLIENT LIST's order.
var clientColumns = []clientColumn{
	{name: "id", i: func(c *Client) *int64 { return &c.ID }},
	{name: "addr", kind: kindStr, s: func(c *Client) *string { return &c.Addr }},
	{name: "laddr", kind: kindStr, s: func(c *Client) *string { return &c.LAddr }},
	{name: "fd", i: func(c *Client) *int64 { return &c.FD }},
	{name: "name", kind: kindStr, s: func(c *Client) *string { return &c.Name }},
	{name: "age", kind: kindSeconds, d: func(c *Client) *time.Duration { return &c.Age }},
	{name: "idle", kind: kindSeconds, d: func(c *Client) *time.Duration { return &c.Idle }},
	{name: "flags", kind: kindStr, s: func(c *Client) *string { return &c.Flags }},
	{name: "db", kind: kindDB},
	{name: "sub", i: func(c *Client) *int64 { return &c.Sub }},
	{name: "psub", i: func(c *Client) *int64 { return &c.PSub }},
	{name: "ssub", i: func(c *Client) *int64 { return &c.SSub }},
	{name: "multi", i: func(c *Client) *int64 { return &c.Multi }},
	{name: "qbuf", i: func(c *Client) *int64 { return &c.QBuf }},
	{name: "qbuf-free", i: func(c *Client) *int64 { return &c.QBufFree }},
	{name: "argv-mem", i: func(c *Client) *int64 { return &c.ArgvMem }},
	{name: "multi-mem", i: func(c *Client) *int64 { return &c.MultiMem }},
	{name: "rbs", i: func(c *Client) *int64 { return &c.RBS }},
	{name: "rbp", i: func(c *Client) *int64 { return &c.RBP }},
	{name: "obl", i: func(c *Client) *int64 { return &c.OBL }},
	{name: "oll", i: func(c *Client) *int64 { return &c.OLL }},
	{name: "omem", i: func(c *Client) *int64 { return &c.OMem }},
	{name: "tot-mem", i: func(c *Client) *int64 { return &c.TotMem }},
	{name: "events", kind: kindStr, s: func(c *Client) *string { return &c.Events }},
	{name: "cmd", kind: kindStr, s: func(c *Client) *string { return &c.Cmd }},
	{name: "user", kind: kindStr, s: func(c *Client) *string { return &c.User }},
	{name: "redir", i: func(c *Client) *int64 { return &c.Redir }},
	{name: "resp", kind: kindResp},
	{name: "lib-name", kind: kindStr, s: func(c *Client) *string { return &c.LibName }},
	{name: "lib-ver", kind: kindStr, s: func(c *Client) *string { return &c.LibVer }},
}

var clientColumnIndex = func() map[string]int {
	m := make(map[string]int, len(clientColumns))
	for i, col := range clientColumns {
		m[col.name] = i
	}
	return m
}()

var multiColumn = clientColumnIndex["multi"]

// ClientColumns are the names of Client's fields as CLIENT LIST names
// them, for Value.
func ClientColumns() []string {
	names := make([]string, len(clientColumns))
	for i, col := range clientColumns {
		names[i] = col.name
	}
	return names
}

// set stores one field; a value that does not parse leaves it unset.
func (c *Client) set(i int, v string) {
	col := &clientColumns[i]
	if col.kind == kindStr {
		*col.s(c) = v
		c.has |= 1 << i
		return
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return
	}
	switch col.kind {
	case kindSeconds:
		*col.d(c) = time.Duration(n) * time.Second
	case kindDB:
		c.DB = int(n)
	case kindResp:
		c.Resp = int(n)
	default:
		*col.i(c) = n
	}
	c.has |= 1 << i
}

// num is a numeric column's value for sorting (seconds for age and idle).
func (c *Client) num(i int) int64 {
	col := &clientColumns[i]
	switch col.kind {
	case kindDB:
		return int64(c.DB)
	case kindResp:
		return int64(c.Resp)
	case kindSeconds:
		return int64(*col.d(c) / time.Second)
	}
	return *col.i(c)
}

// Has reports whether the server sent field col ("user", "resp", or one
// in Extra).
func (c *Client) Has(col string) bool {
	if i, ok := clientColumnIndex[col]; ok {
		return c.has&(1<<i) != 0
	}
	_, ok := c.extra(col)
	return ok
}

func (c *Client) extra(col string) (string, bool) {
	for _, f := range c.Extra {
		if f.Key == col {
			return f.Value, true
		}
	}
	return "", false
}

// Value is field col as the server sent it, escaped for a terminal ("" when
// not sent). Age and idle are in seconds, as sent.
func (c *Client) Value(col string) string {
	i, ok := clientColumnIndex[col]
	if !ok {
		v, _ := c.extra(col)
		return escapeText(v)
	}
	if c.has&(1<<i) == 0 {
		return ""
	}
	if clientColumns[i].kind == kindStr {
		return escapeText(*clientColumns[i].s(c))
	}
	return strconv.FormatInt(c.num(i), 10)
}

// ParseClientList reads CLIENT LIST output: one client a line, space
// separated name=value fields. It takes what any version from 5.0 on sends
// (fields missing or added between versions; unknown ones go to Extra),
// skips what it cannot read and never fails. The strings in the result
// share text's memory.
func ParseClientList(text string) []Client {
	out := make([]Client, 0, strings.Count(text, "\n")+1)
	for len(text) > 0 {
		line := text
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = ""
		}
		line = strings.TrimSuffix(line, "\r")
		// Parse in place: a Client built elsewhere and copied in would
		// escape to the heap, one allocation per client.
		out = append(out, Client{})
		if !parseClientLine(&out[len(out)-1], line) {
			out = out[:len(out)-1]
		}
	}
	return out
}

// parseClientLine fills c from one line; false when it is not a client
// (no id).
func parseClientLine(c *Client, line string) bool {
	// prev is the field a token without '=' continues: a value with a
	// space in it (a unix socket path), which the server does not quote.
	prevCol, prevExtra := -1, -1
	prevStart, guess := 0, 0
	for pos := 0; pos < len(line); {
		end := strings.IndexByte(line[pos:], ' ')
		if end < 0 {
			end = len(line)
		} else {
			end += pos
		}
		tok := line[pos:end]
		start := pos
		pos = end + 1
		if tok == "" {
			continue
		}
		eq := strings.IndexByte(tok, '=')
		if eq < 0 {
			switch {
			case prevCol >= 0 && clientColumns[prevCol].kind == kindStr:
				c.set(prevCol, line[prevStart:end])
			case prevExtra >= 0:
				c.Extra[prevExtra].Value = line[prevStart:end]
			}
			continue
		}
		key, val := tok[:eq], tok[eq+1:]
		prevStart = start + eq + 1
		// Servers send the fields in clientColumns' order: try the one
		// after the last known before the map.
		if guess < len(clientColumns) && clientColumns[guess].name == key {
			c.set(guess, val)
			prevCol, prevExtra = guess, -1
			guess++
			continue
		}
		if i, ok := clientColumnIndex[key]; ok {
			c.set(i, val)
			prevCol, prevExtra = i, -1
			guess = i + 1
			continue
		}
		c.Extra = append(c.Extra, ClientField{Key: key, Value: val})
		prevCol, prevExtra = -1, len(c.Extra)-1
	}
	if c.has&1 == 0 { // no id: not a client line
		*c = Client{}
		return false
	}
	if c.has&(1<<multiColumn) == 0 {
		c.Multi = -1
	}
	c.Own = strings.HasPrefix(c.Name, conn.ClientName)
	return true
}

// FetchClients sends one CLIENT LIST to node and parses it. The server
// builds the whole list in one go (about 1 µs a client) and sends it all:
// call it at the pace of a visible pane, not of the INFO poll.
func FetchClients(ctx context.Context, c *redis.Client, node string, ledger *Ledger) ([]Client, error) {
	args := []string{"client", "list"}
	w := wire{ledger, node}
	text, err := c.Do(ctx, "client", "list").Text()
	if err != nil {
		w.failed("client|list", args, err)
		if fe := refusal(FeatureClientList, err); fe != nil {
			return nil, fe
		}
		return nil, err
	}
	w.ok("client|list", args, wireBulk(len(text)))
	return ParseClientList(text), nil
}

// KillClient closes the connection with the given id (CLIENT KILL ID),
// through w, a client with retries off (conn.Target.WriterOptions): a
// kill that timed out is reported as of unknown outcome (ErrOutcomeUnknown),
// never sent again. It returns a status line. A client that was already
// gone is not an error. The server never kills the connection asking
// (SKIPME yes), which then also reads as gone.
func KillClient(ctx context.Context, w *redis.Client, node string, ledger *Ledger, id int64) (string, error) {
	what := fmt.Sprintf("CLIENT KILL ID %d", id)
	if err := writerRetries(w); err != nil {
		return "", fmt.Errorf("%s not sent: %w", what, err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("%s not sent: %w", what, err)
	}
	idArg := strconv.FormatInt(id, 10)
	args := []string{"client", "kill", "id", idArg}
	b := wire{ledger, node}
	n, err := w.Do(ctx, "client", "kill", "id", idArg).Int64()
	switch {
	case err == nil:
		b.ok("client|kill", args, wireInt(n))
	case isServerReply(err):
		b.failed("client|kill", args, err)
		if fe := refusal(FeatureClientKill, err); fe != nil {
			return "", fe
		}
		return "", fmt.Errorf("%s refused: %w", what, err)
	default:
		b.unknownWrite("client|kill", err)
		return "", writeFailed(what, err)
	}
	if n == 0 {
		return fmt.Sprintf("client %d already gone", id), nil
	}
	return fmt.Sprintf("client %d killed", id), nil
}
