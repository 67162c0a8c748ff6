package keys

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// View is how the value pane shows a value: Auto picks the first decoder in
// the chain that accepts the bytes; the others force one rendering.
type View int

const (
	ViewAuto View = iota
	ViewText
	ViewHex
	ViewJSON
	ViewPickle
	ViewMsgpack
)

func (v View) String() string {
	switch v {
	case ViewAuto:
		return "auto"
	case ViewText:
		return "text"
	case ViewHex:
		return "hex"
	case ViewJSON:
		return "json"
	case ViewPickle:
		return "pickle"
	case ViewMsgpack:
		return "msgpack"
	}
	return fmt.Sprintf("View(%d)", int(v))
}

// Decoded is a value rendered for the value pane. Every string in it (Lines,
// Classes, Err) is already escaped: it can go to the terminal as is.
type Decoded struct {
	// Chain is what was applied, in order, ending with Kind: ["zlib",
	// "pickle"], ["int"], ["text"], ["gzip", "hex"].
	Chain []string
	// Kind is the final form: "int", "pickle", "json", "msgpack", "text" or
	// "hex".
	Kind string
	// Lines is the rendering, one entry per line, at most MaxLines of them
	// plus one "… N more lines" line. A line longer than MaxLineBytes is cut
	// and ends with "…".
	Lines []string
	// Classes lists the Python classes and functions a pickle referenced that
	// were not rendered natively (module.name, in order of first use). They
	// are recorded, never executed.
	Classes []string
	// Err says why the decoding fell short: a forced view that did not fit
	// the bytes (Lines then show a hex dump), bytes with a pickle header
	// that did not load (the same), or a compression layer that was cut
	// short (truncated input, or output over MaxInflated).
	Err string
}

// Limits. They bound the work and memory one Decode can cause, whatever the
// bytes: the value pane passes at most 64 KiB, but Decode does not rely on
// it.
const (
	// MaxInput is how much of the input is looked at; the rest is ignored.
	MaxInput = 1 << 20
	// MaxInflated caps the output of each zlib or gzip layer (zip bombs).
	MaxInflated = 16 << 20
	// MaxLines is how many lines Lines holds before the "… N more lines".
	MaxLines = 2000
	// MaxLineBytes is the longest line kept; longer lines are cut with "…".
	MaxLineBytes = 8192
	// PrettyWidth is the width, in bytes, that pickles are pretty-printed
	// to: a container that fits stays on one line.
	PrettyWidth = 80

	maxLayers   = 3  // nested compression layers peeled
	maxIndent   = 40 // indentation levels shown; deeper levels stay at 40
	maxNesting  = 200
	countPastBy = 50000 // lines counted past MaxLines before giving up
)

// Decode renders b with the automatic chain: a raw ASCII integer (as
// django-redis stores ints), then any zlib or gzip layers are peeled, then
// the first of pickle, JSON (object, array or string), msgpack (map or
// array, decoding fully), UTF-8 text (mostly printable) and a hex dump that
// accepts the bytes. An empty value is text with no lines.
func Decode(b []byte) Decoded { return DecodeAs(b, ViewAuto) }

// DecodeAs renders b as the view v. Zlib and gzip layers are peeled in every
// view except ViewHex, which always shows the raw bytes. ViewText shows
// escaped text even when the bytes are not UTF-8. ViewJSON, ViewPickle and
// ViewMsgpack accept any value of their format (a bare number, a pickled
// int); when the bytes are not in that format, Err says why and Lines show a
// hex dump of the (peeled) bytes.
func DecodeAs(b []byte, v View) Decoded {
	var notes []string
	if len(b) > MaxInput {
		notes = append(notes, fmt.Sprintf("only the first %d of %d bytes were decoded", MaxInput, len(b)))
		b = b[:MaxInput]
	}
	if v == ViewHex {
		d := hexDecoded(b)
		d.Err = strings.Join(notes, "; ")
		return d
	}
	if v == ViewAuto && isASCIIInt(b) {
		return Decoded{Chain: []string{"int"}, Kind: "int", Lines: []string{string(b)}}
	}
	data, layers, perr := peel(b)
	if perr != "" {
		notes = append(notes, perr)
	}
	var d Decoded
	switch v {
	case ViewAuto:
		d = autoDecode(data)
	case ViewText:
		d = textDecoded(data)
	case ViewJSON:
		d = forced(data, "json", func() ([]string, []string, error) {
			lines, err := jsonLines(data, false)
			return lines, nil, err
		})
	case ViewPickle:
		d = forced(data, "pickle", func() ([]string, []string, error) {
			return pickleLines(data, false)
		})
	case ViewMsgpack:
		d = forced(data, "msgpack", func() ([]string, []string, error) {
			lines, err := msgpackLines(data, false)
			return lines, nil, err
		})
	default:
		d = hexDecoded(data)
		d.Err = fmt.Sprintf("unknown view %d", int(v))
	}
	d.Chain = append(layers, d.Chain...)
	if d.Err != "" {
		notes = append(notes, d.Err)
	}
	d.Err = strings.Join(notes, "; ")
	return d
}

func autoDecode(b []byte) Decoded {
	var pickleErr error
	if looksPickle(b) {
		lines, classes, err := pickleLines(b, true)
		if err == nil {
			return Decoded{Chain: []string{"pickle"}, Kind: "pickle", Lines: lines, Classes: classes}
		}
		pickleErr = err
	}
	if looksJSON(b) {
		if lines, err := jsonLines(b, true); err == nil {
			return Decoded{Chain: []string{"json"}, Kind: "json", Lines: lines}
		}
	}
	if looksMsgpack(b) {
		if lines, err := msgpackLines(b, true); err == nil {
			return Decoded{Chain: []string{"msgpack"}, Kind: "msgpack", Lines: lines}
		}
	}
	if looksText(b) {
		return textDecoded(b)
	}
	d := hexDecoded(b)
	if pickleErr != nil && len(b) >= 2 && b[0] == 0x80 && b[1] >= 2 {
		// It has a pickle header: say why it did not load (often a value
		// cut short by the caller).
		d.Err = "pickle: " + clipErr(pickleErr)
	}
	return d
}

// forced runs one decoder and falls back to a hex dump with Err when it
// fails.
func forced(b []byte, kind string, run func() ([]string, []string, error)) Decoded {
	lines, classes, err := run()
	if err != nil {
		d := hexDecoded(b)
		d.Classes = classes
		d.Err = kind + ": " + clipErr(err)
		return d
	}
	return Decoded{Chain: []string{kind}, Kind: kind, Lines: lines, Classes: classes}
}

// clipErr escapes an error message (it may quote the bytes) and keeps it
// short.
func clipErr(err error) string {
	const width = 200
	s := err.Error()
	if len(s) > width*4 {
		s = s[:width*4]
	}
	return EscapeWidth(s, width)
}

// isASCIIInt reports whether b is an integer as django-redis stores it:
// str(int), so an optional minus sign and digits without leading zeros.
func isASCIIInt(b []byte) bool {
	s := b
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 40 || (s[0] == '0' && len(s) > 1) || (len(b) > 1 && b[0] == '-' && s[0] == '0') {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// peel removes zlib and gzip layers, recognised by their headers and
// confirmed by a clean decompression (the checksum makes a false match
// unlikely). Output is capped at MaxInflated per layer: a bomb is cut there.
// A stream that ends early (the caller passed a prefix of a long value) is
// peeled with what it gave, unless the input reads as text ("x^2" starts
// like a zlib header); both cases leave a note. Any other failure leaves
// the bytes alone.
func peel(b []byte) (out []byte, layers []string, note string) {
	for range maxLayers {
		var (
			name string
			r    io.Reader
		)
		switch {
		case isGzip(b):
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return b, layers, note
			}
			zr.Multistream(false)
			name, r = "gzip", zr
		case isZlib(b):
			zr, err := zlib.NewReader(bytes.NewReader(b))
			if err != nil {
				return b, layers, note
			}
			name, r = "zlib", zr
		default:
			return b, layers, note
		}
		got, err := io.ReadAll(io.LimitReader(r, MaxInflated+1))
		switch {
		case len(got) > MaxInflated:
			return got[:MaxInflated], append(layers, name),
				fmt.Sprintf("%s: output cut at %d bytes (possible zip bomb)", name, MaxInflated)
		case err == nil:
			layers = append(layers, name)
			b = got
		case errors.Is(err, io.ErrUnexpectedEOF) && len(got) > 0 && !looksText(b):
			return got, append(layers, name),
				fmt.Sprintf("%s: input ends early (value cut?); showing the %d bytes it gave", name, len(got))
		default:
			return b, layers, note
		}
	}
	return b, layers, note
}

func isGzip(b []byte) bool { return len(b) >= 10 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8 }

// isZlib checks the two-byte zlib header: deflate, a window of at most 32
// KiB, no preset dictionary, and the check bits.
func isZlib(b []byte) bool {
	if len(b) < 6 {
		return false
	}
	cmf, flg := b[0], b[1]
	return cmf&0x0f == 8 && cmf>>4 <= 7 && flg&0x20 == 0 && (uint(cmf)<<8|uint(flg))%31 == 0
}

func looksPickle(b []byte) bool {
	if len(b) >= 2 && b[0] == 0x80 && b[1] <= 5 {
		return true
	}
	// Protocols 0 and 1 have no header; a pickle ends with STOP.
	return len(b) >= 2 && b[len(b)-1] == '.'
}

func looksJSON(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[' || t[0] == '"') && utf8.Valid(b)
}

// looksMsgpack accepts the codes of a map or an array: every other top-level
// msgpack value is either ASCII (fixints) or too likely a false positive.
func looksMsgpack(b []byte) bool {
	return len(b) > 0 && (b[0]&0xe0 == 0x80 || b[0] >= 0xdc && b[0] <= 0xdf)
}

// looksText accepts valid UTF-8 without NUL bytes where at most one rune in ten
// would need escaping (newlines, tabs and carriage returns do not count).
func looksText(b []byte) bool {
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		return false
	}
	var runes, bad int
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		i += size
		runes++
		if r != '\n' && r != '\r' && r != '\t' && mustEscape(r) {
			bad++
		}
	}
	return bad*10 <= runes
}

// textDecoded shows b as escaped text, one line per '\n'.
func textDecoded(b []byte) Decoded {
	d := Decoded{Chain: []string{"text"}, Kind: "text", Lines: []string{}}
	if len(b) == 0 {
		return d
	}
	total := bytes.Count(b, []byte{'\n'}) + 1
	for len(d.Lines) < MaxLines {
		line, rest, found := bytes.Cut(b, []byte{'\n'})
		d.Lines = append(d.Lines, escapeLine(line))
		if !found {
			break
		}
		b = rest
	}
	d.Lines = moreLines(d.Lines, total, false)
	return d
}

// escapeLine escapes raw bytes for one line, cut at MaxLineBytes.
func escapeLine(p []byte) string {
	cut := len(p) > MaxLineBytes
	if cut {
		p = p[:MaxLineBytes]
	}
	e := string(appendEscaped(make([]byte, 0, len(p)), string(p), 0))
	if cut || len(e) > MaxLineBytes {
		return clipLine(e, true)
	}
	return e
}

// clipLine cuts an escaped line to MaxLineBytes, at a rune and escape
// boundary, and marks it with "…". With force, it marks it even when short.
func clipLine(s string, force bool) string {
	if len(s) <= MaxLineBytes && !force {
		return s
	}
	const tail = "…"
	cut := 0
	for i := 0; i < len(s); {
		n := 1
		if s[i] == '\\' {
			n = escapeLen(s, i)
		} else if s[i] >= utf8.RuneSelf {
			_, n = utf8.DecodeRuneInString(s[i:])
		}
		if i+n > MaxLineBytes-len(tail) {
			break
		}
		i += n
		cut = i
	}
	return s[:cut] + tail
}

// moreLines appends the "… N more lines" line when total exceeds the lines
// kept; atLeast says the count stopped early.
func moreLines(lines []string, total int, atLeast bool) []string {
	more := total - len(lines)
	if more <= 0 {
		return lines
	}
	plus := ""
	if atLeast {
		plus = "+"
	}
	word := "lines"
	if more == 1 && !atLeast {
		word = "line"
	}
	return append(lines, fmt.Sprintf("… %d%s more %s", more, plus, word))
}

// hexDecoded is an xxd-like dump: offset, 16 bytes in hex, ASCII column.
func hexDecoded(b []byte) Decoded {
	d := Decoded{Chain: []string{"hex"}, Kind: "hex", Lines: []string{}}
	total := (len(b) + 15) / 16
	for off := 0; off < len(b) && len(d.Lines) < MaxLines; off += 16 {
		d.Lines = append(d.Lines, hexLine(off, b[off:min(off+16, len(b))]))
	}
	d.Lines = moreLines(d.Lines, total, false)
	return d
}

func hexLine(off int, row []byte) string {
	var sb strings.Builder
	sb.Grow(80)
	fmt.Fprintf(&sb, "%08x  ", off)
	for i := range 16 {
		if i == 8 {
			sb.WriteByte(' ')
		}
		if i < len(row) {
			sb.WriteByte(lowerHex[row[i]>>4])
			sb.WriteByte(lowerHex[row[i]&0xf])
			sb.WriteByte(' ')
		} else {
			sb.WriteString("   ")
		}
	}
	sb.WriteString(" |")
	for _, c := range row {
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		sb.WriteByte(c)
	}
	sb.WriteByte('|')
	return sb.String()
}

// lineSink collects rendered lines: it keeps MaxLines of them and counts the
// rest, up to limit (0: no limit) after which the renderer should stop.
type lineSink struct {
	lines []string
	total int
	limit int
}

func newSink(limit int) *lineSink { return &lineSink{lines: []string{}, limit: limit} }

// keeping reports whether the next line will be kept; callers may skip
// building lines that are only counted when the count is exact anyway.
func (s *lineSink) keeping() bool { return len(s.lines) < MaxLines }

func (s *lineSink) add(line string) {
	if s.done() {
		return
	}
	s.total++
	if len(s.lines) < MaxLines {
		s.lines = append(s.lines, clipLine(line, false))
	}
}

func (s *lineSink) done() bool { return s.limit > 0 && s.total >= s.limit }

func (s *lineSink) result() []string { return moreLines(s.lines, s.total, s.done()) }

// lineIndent is the indentation for a nesting level, capped at maxIndent.
func lineIndent(level int) string {
	return indentSpaces[:2*min(level, maxIndent)]
}

var indentSpaces = strings.Repeat(" ", 2*maxIndent)

// lineWriter is a bounded line writer: once a write would take it past max
// bytes it stops, marks itself over, and String ends with "…". The pickle
// printer uses it to try a value on one line; msgpack, to cut long scalars.
type lineWriter struct {
	b    []byte
	max  int
	over bool
}

func (w *lineWriter) str(s string) {
	if w.over {
		return
	}
	if len(w.b)+len(s) > w.max {
		w.clip(s)
		return
	}
	w.b = append(w.b, s...)
}

// quoted writes s quoted by appendQ (Python repr, JSON). The escaped form is
// at least two bytes longer than s, so an s that cannot fit is cut before it
// is escaped, and shown without its closing quote.
func (w *lineWriter) quoted(s string, appendQ func([]byte, string) []byte) {
	if w.over {
		return
	}
	room := w.max - len(w.b)
	if len(s)+2 <= room {
		w.str(string(appendQ(nil, s)))
		return
	}
	q := appendQ(nil, s[:runeCut(s, max(room, 0))])
	w.clip(string(q[:len(q)-1]))
}

func (w *lineWriter) bytes(p []byte) {
	if w.over {
		return
	}
	room := w.max - len(w.b)
	if len(p)+3 <= room {
		w.str(string(appendPyBytes(nil, p)))
		return
	}
	q := appendPyBytes(nil, p[:min(len(p), max(room, 0))])
	w.clip(string(q[:len(q)-1]))
}

// runeCut is the largest n <= max such that s[:n] does not split a rune.
func runeCut(s string, n int) int {
	if n >= len(s) {
		return len(s)
	}
	for k := 0; k < utf8.UTFMax-1 && n > 0 && !utf8.RuneStart(s[n]); k++ {
		n--
	}
	return n
}

// clip writes as much of the escaped text s as fits, at a rune and escape
// boundary, and marks w over.
func (w *lineWriter) clip(s string) {
	room := w.max - len(w.b)
	cut := 0
	for i := 0; i < len(s); {
		n := 1
		if s[i] == '\\' {
			n = escapeLen(s, i)
		} else if s[i] >= utf8.RuneSelf {
			_, n = utf8.DecodeRuneInString(s[i:])
		}
		if i+n > room {
			break
		}
		i += n
		cut = i
	}
	w.b = append(w.b, s[:cut]...)
	w.over = true
}

func (w *lineWriter) String() string {
	if w.over {
		return string(w.b) + "…"
	}
	return string(w.b)
}
