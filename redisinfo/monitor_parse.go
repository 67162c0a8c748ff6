package redisinfo

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// MonitorLine is one line of the MONITOR stream:
//
//	+1700000000.123456 [0 127.0.0.1:52344] "SET" "key" "val"
type MonitorLine struct {
	Time time.Time // the server's clock, microseconds
	DB   int
	// Client is the connection that sent the command, as Redis prints it:
	// "127.0.0.1:52344", "[::1]:52344", "lua" for commands run by a script
	// or a function, "unix:/path/redis.sock" for every client of a unix
	// socket (Redis prints the socket's path, the same for all of them).
	Client string
	Cmd    string // lower case: "set", "client" (subcommands are in Args)
	// Args are the arguments after the command, unescaped to their raw
	// bytes (binary-safe: escape them before printing). Redis shows the
	// arguments of AUTH and HELLO … AUTH as "(redacted)". Consumers must
	// not modify them: lines may share memory.
	Args [][]byte
	// NArgs is the number of arguments on the line; more than len(Args)
	// when a Monitor kept only the first MonitorOptions.MaxArgs.
	NArgs int
	// Truncated: a Monitor cut an argument to MonitorOptions.MaxArgLen,
	// dropped arguments after MaxArgs, or read only the start of a line
	// longer than its buffer. ParseMonitorLine never truncates.
	Truncated bool
	// Own: the client is one of MonitorOptions.OwnAddrs, redtop's other
	// connections.
	Own bool
}

// Key is the line's first key argument, when its command takes keys (per
// the command table of Redis 7.0): "user:1" for GET user:1, the first of
// KEYS for EVAL, the key after STREAMS for XREAD, nothing for PING, SCAN or
// PUBLISH. Only the first key of a multi-key command (MSET, DEL) is given.
func (l *MonitorLine) Key() ([]byte, bool) {
	i := monitorKeyIndex(l.Cmd, l.Args)
	if i < 0 || i >= len(l.Args) {
		return nil, false
	}
	return l.Args[i], true
}

// ErrMonitorLine is wrapped by every parse error.
var ErrMonitorLine = errors.New("bad MONITOR line")

func monitorLineError(pos int, what string) error {
	return fmt.Errorf("%w: %s at byte %d", ErrMonitorLine, what, pos)
}

// ParseMonitorLine reads one line of the MONITOR stream, with or without
// its leading '+' and trailing CRLF. Arguments come back with Redis's
// quoting undone (sdscatrepr: \" \\ \n \r \t \a \b \xHH). It accepts the
// line of Redis before 2.6 too, which had no "[db client]" part (DB 0,
// Client "").
func ParseMonitorLine(line []byte) (MonitorLine, error) {
	var p monitorParser
	return p.parse(line, false)
}

// monitorParser parses lines for one reader. It reuses the client name of
// the previous line and carves argument memory out of shared slabs, so a
// line costs no allocation most of the time. The zero value parses without
// limits.
type monitorParser struct {
	maxArgs   int // keep at most this many arguments; 0: all
	maxArgLen int // cut each argument to this many bytes; 0: no cut

	lastClient string
	slab       []byte
	argSlab    [][]byte
}

const (
	monitorSlabSize    = 64 << 10
	monitorArgSlabSize = 1024
)

// alloc returns a buffer of length 0 and capacity n.
func (p *monitorParser) alloc(n int) []byte {
	if p.maxArgs == 0 && p.maxArgLen == 0 || n > monitorSlabSize/4 {
		return make([]byte, 0, n)
	}
	if cap(p.slab)-len(p.slab) < n {
		p.slab = make([]byte, 0, monitorSlabSize)
	}
	b := p.slab[len(p.slab) : len(p.slab) : len(p.slab)+n]
	p.slab = p.slab[:len(p.slab)+n]
	return b
}

func (p *monitorParser) allocArgs(n int) [][]byte {
	if p.maxArgs == 0 && p.maxArgLen == 0 || n > monitorArgSlabSize/4 {
		return make([][]byte, 0, n)
	}
	if cap(p.argSlab)-len(p.argSlab) < n {
		p.argSlab = make([][]byte, 0, monitorArgSlabSize)
	}
	a := p.argSlab[len(p.argSlab) : len(p.argSlab) : len(p.argSlab)+n]
	p.argSlab = p.argSlab[:len(p.argSlab)+n]
	return a
}

// parse reads a line. partial says the line is only the start of a longer
// one: an argument left open at its end is kept, cut, and the line marked
// Truncated.
func (p *monitorParser) parse(line []byte, partial bool) (MonitorLine, error) {
	var l MonitorLine
	n := len(line)
	if !partial {
		switch {
		case n >= 2 && line[n-2] == '\r' && line[n-1] == '\n':
			n -= 2
		case n >= 1 && line[n-1] == '\n':
			n--
		}
	}
	s := line[:n]
	i := 0
	if i < len(s) && s[i] == '+' {
		i++
	}

	// Timestamp: seconds '.' fraction.
	start := i
	for i < len(s) && monitorDigit(s[i]) {
		i++
	}
	if i == start || i-start > 12 {
		return l, monitorLineError(start, "no timestamp")
	}
	sec, _ := strconv.ParseInt(string(s[start:i]), 10, 64)
	var nsec int64
	if i < len(s) && s[i] == '.' {
		i++
		fs, scale := i, int64(1e9)
		for i < len(s) && monitorDigit(s[i]) {
			if i-fs < 9 {
				scale /= 10
				nsec += int64(s[i]-'0') * scale
			}
			i++
		}
		if i == fs {
			return l, monitorLineError(i, "no fraction in the timestamp")
		}
	}
	l.Time = time.Unix(sec, nsec)
	if i >= len(s) || s[i] != ' ' {
		return l, monitorLineError(i, "no space after the timestamp")
	}
	i++

	// "[db client] ", absent before Redis 2.6.
	if i < len(s) && s[i] == '[' {
		i++
		ds := i
		for i < len(s) && monitorDigit(s[i]) {
			i++
		}
		if i == ds || i-ds > 9 {
			return l, monitorLineError(ds, "no database number")
		}
		l.DB, _ = strconv.Atoi(string(s[ds:i]))
		if i >= len(s) || s[i] != ' ' {
			return l, monitorLineError(i, "no space after the database number")
		}
		i++
		// The client ends at the first `] "`: an IPv6 address has ']'
		// inside ("[::1]:5000"), arguments come after it.
		end := bytes.Index(s[i:], []byte(`] "`))
		if end < 0 {
			return l, monitorLineError(i, "no end of the client address")
		}
		c := s[i : i+end]
		if string(c) == p.lastClient {
			l.Client = p.lastClient
		} else {
			l.Client = string(c)
			p.lastClient = l.Client
		}
		i += end + 2
	}

	// Arguments: "…" "…" …, the first is the command.
	if i >= len(s) || s[i] != '"' {
		return l, monitorLineError(i, "no command")
	}
	rest := s[i:]
	// Enough room for every argument's bytes: unescaping only shrinks.
	nargs := bytes.Count(rest, []byte(`" "`)) + 1 // at least the real count
	if p.maxArgs > 0 {
		nargs = min(nargs, p.maxArgs+1)
	}
	room := len(rest)
	if p.maxArgLen > 0 {
		room = min(room, 64+nargs*p.maxArgLen)
	}
	buf := p.alloc(room)
	args := p.allocArgs(nargs - 1)
	count := 0
	for {
		if s[i] != '"' {
			return l, monitorLineError(i, "argument does not start with a quote")
		}
		i++
		keep := p.maxArgs == 0 || count <= p.maxArgs // the command is not counted
		limit := -1
		if keep && p.maxArgLen > 0 && count > 0 {
			limit = p.maxArgLen
		}
		if count == 0 && (p.maxArgs > 0 || p.maxArgLen > 0) {
			limit = 64 // a command name; a Monitor cuts longer ones
		}
		from := len(buf)
		closed := false
		for i < len(s) {
			c := s[i]
			if c == '"' {
				closed = true
				i++
				break
			}
			if c != '\\' {
				// Copy a run of plain bytes at once.
				j := i + 1
				for j < len(s) && s[j] != '"' && s[j] != '\\' {
					j++
				}
				buf, l.Truncated = monitorAppendCapped(buf, from, limit, s[i:j], keep, l.Truncated)
				i = j
				continue
			}
			if i+1 >= len(s) {
				if partial {
					i++
					break
				}
				return l, monitorLineError(i, "trailing backslash")
			}
			var b byte
			switch e := s[i+1]; e {
			case '\\', '"':
				b = e
			case 'n':
				b = '\n'
			case 'r':
				b = '\r'
			case 't':
				b = '\t'
			case 'a':
				b = '\a'
			case 'b':
				b = '\b'
			case 'x':
				if i+3 >= len(s) {
					if partial {
						i = len(s)
						continue
					}
					return l, monitorLineError(i, "short \\x escape")
				}
				hi, ok1 := monitorUnhex(s[i+2])
				lo, ok2 := monitorUnhex(s[i+3])
				if !ok1 || !ok2 {
					return l, monitorLineError(i, "bad \\x escape")
				}
				b = hi<<4 | lo
				i += 2
			default:
				return l, monitorLineError(i, "unknown escape")
			}
			i += 2
			buf, l.Truncated = monitorAppendCapped(buf, from, limit, []byte{b}, keep, l.Truncated)
		}
		if !closed {
			if !partial {
				return l, monitorLineError(i, "unterminated argument")
			}
			l.Truncated = true
		}
		if keep {
			arg := buf[from:len(buf):len(buf)]
			if count == 0 {
				l.Cmd = monitorCmdName(arg)
			} else {
				args = append(args, arg)
			}
		} else {
			l.Truncated = true
		}
		count++
		if i >= len(s) {
			break
		}
		if s[i] != ' ' || i+1 >= len(s) {
			if partial && s[i] == ' ' {
				l.Truncated = true
				break
			}
			return l, monitorLineError(i, "no space between arguments")
		}
		i++
	}
	if len(args) > 0 {
		l.Args = args
	}
	l.NArgs = count - 1
	return l, nil
}

// monitorAppendCapped appends src to buf unless keep is false, keeping the
// current argument (which starts at from) within limit bytes (-1: none).
func monitorAppendCapped(buf []byte, from, limit int, src []byte, keep, truncated bool) ([]byte, bool) {
	if !keep {
		return buf, truncated
	}
	if limit >= 0 {
		room := limit - (len(buf) - from)
		if room < len(src) {
			src = src[:max(room, 0)]
			truncated = true
		}
	}
	return append(buf, src...), truncated
}

func monitorDigit(c byte) bool { return c >= '0' && c <= '9' }

func monitorUnhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// monitorCmdName lower-cases a command, sharing the string of a known one.
func monitorCmdName(b []byte) string {
	var arr [64]byte
	low := arr[:0]
	if len(b) > len(arr) {
		low = make([]byte, 0, len(b))
	}
	for _, c := range b { // ASCII only: a binary name keeps its bytes
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		low = append(low, c)
	}
	if s, ok := monitorKnownCmds[string(low)]; ok {
		return s
	}
	return string(low)
}
