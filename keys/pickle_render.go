package keys

import (
	"cmp"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/nlpodyssey/gopickle/types"
)

// renderPickle renders a loaded pickle as Python-like repr, pretty-printed
// the way pprint does: a value that fits in PrettyWidth stays on one line,
// a container that does not is opened over several lines with its items
// indented by two spaces, and a long str or bytes is split into adjacent
// literals inside parentheses (Python concatenates them).
//
// The work is bounded whatever the pickle: memo references can make a small
// pickle a huge DAG ("billion laughs") or a cycle. A container inside itself
// shows as [...] like Python's repr; nesting deeper than maxNesting shows as
// "…"; a one-line attempt stops as soon as it is too wide; and rendering
// stops after countPastBy lines beyond MaxLines ("… 50000+ more lines").
func renderPickle(v any) []string {
	p := &pyPrinter{sink: newSink(MaxLines + countPastBy), active: map[any]bool{}, bigs: map[*big.Int]string{}}
	p.emit(0, "", v, "", 0)
	return p.sink.result()
}

type pyPrinter struct {
	sink   *lineSink
	active map[any]bool        // containers being rendered, by pointer
	bigs   map[*big.Int]string // big integers in decimal, converted once
}

func (p *pyPrinter) bigString(n *big.Int) string {
	s, ok := p.bigs[n]
	if !ok {
		s = n.String()
		p.bigs[n] = s
	}
	return s
}

// bytesValue is v's value when v is bytes.
func (p *pyPrinter) bytesValue(v any, depth int) ([]byte, bool) {
	switch t := v.(type) {
	case []byte:
		return t, true
	case *pyObject:
		oc := p.cached(t, depth)
		return oc.bytes, oc.isBytes
	}
	return nil, false
}

// pyItem is one item of a container: a dict entry (key), a keyword
// argument (kw), or a plain value.
type pyItem struct {
	key   any
	keyed bool
	kw    string
	v     any
}

// pyContainer is how a value opens, closes and lists its items.
type pyContainer struct {
	id          any // identity, for cycles
	open, close string
	empty       string // the whole rendering when there are no items
	hasItems    bool
	oneTuple    bool // (x,)
	items       func(yield func(pyItem) bool)
}

func (p *pyPrinter) line(level int, s string) {
	if !p.sink.keeping() {
		p.sink.add("")
		return
	}
	p.sink.add(lineIndent(level) + s)
}

// emit renders v starting a new line at level, after prefix and followed by
// suffix.
func (p *pyPrinter) emit(level int, prefix string, v any, suffix string, depth int) {
	if p.sink.done() {
		return
	}
	room := max(PrettyWidth-2*min(level, maxIndent)-len(prefix)-len(suffix), 24)
	w := lineWriter{max: room}
	p.flat(&w, v, depth)
	if !w.over {
		p.line(level, prefix+string(w.b)+suffix)
		return
	}
	if c := p.container(v, depth); c != nil && c.hasItems && depth < maxNesting && !p.active[c.id] {
		p.line(level, prefix+c.open)
		p.active[c.id] = true
		c.items(func(it pyItem) bool {
			p.emit(level+1, p.itemPrefix(it, depth+1), it.v, ",", depth+1)
			return !p.sink.done()
		})
		delete(p.active, c.id)
		p.line(level, c.close+suffix)
		return
	}
	if s, ok := v.(string); ok && needsChunks(level, s, false) {
		p.chunks(level, prefix, suffix, s, false)
		return
	}
	if b, ok := p.bytesValue(v, depth); ok && needsChunks(level, string(b), true) {
		p.chunks(level, prefix, suffix, string(b), true)
		return
	}
	if !p.sink.keeping() {
		p.sink.add("") // only counted: skip building a long line
		return
	}
	w = lineWriter{max: MaxLineBytes}
	p.flat(&w, v, depth)
	p.line(level, prefix+w.String()+suffix)
}

func (p *pyPrinter) itemPrefix(it pyItem, depth int) string {
	switch {
	case it.keyed:
		w := lineWriter{max: MaxLineBytes / 4}
		p.flat(&w, it.key, depth)
		return w.String() + ": "
	case it.kw != "":
		return it.kw + "="
	}
	return ""
}

// chunks renders a long str or bytes as adjacent literals, one per line,
// breaking after newlines and where a line would grow past PrettyWidth.
func (p *pyPrinter) chunks(level int, prefix, suffix, s string, isBytes bool) {
	p.line(level, prefix+"(")
	room := chunkRoom(level)
	for len(s) > 0 && !p.sink.done() {
		n := chunkLen(s, room, isBytes)
		if isBytes {
			p.line(level+1, string(appendPyBytes(nil, []byte(s[:n]))))
		} else {
			p.line(level+1, pyQuote(s[:n]))
		}
		s = s[n:]
	}
	p.line(level, ")"+suffix)
}

// chunkRoom is the room for a literal inside chunks at level.
func chunkRoom(level int) int { return max(PrettyWidth-2*min(level+1, maxIndent)-3, 24) }

// needsChunks reports whether s takes more than one literal: one that only
// overflows the line because of its key stays on that line, as in pprint.
func needsChunks(level int, s string, isBytes bool) bool {
	return chunkLen(s, chunkRoom(level), isBytes) < len(s)
}

// chunkLen is how much of s goes in one literal: up to room escaped bytes,
// ending after a newline when there is one, and never splitting a rune.
func chunkLen(s string, room int, isBytes bool) int {
	used := 0
	for i := 0; i < len(s); {
		c := s[i]
		n, cost := 1, 1
		switch {
		case c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\'':
			cost = 2
		case c < 0x20 || c == 0x7f || (isBytes && c >= 0x80):
			cost = 4
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			n, cost = size, size
			if r == utf8.RuneError && size == 1 {
				cost = 4
			} else if mustEscape(r) {
				cost = 10
			}
		}
		if used+cost > room && i > 0 {
			return i
		}
		used += cost
		i += n
		if c == '\n' {
			return i
		}
	}
	return len(s)
}

// flat writes v on one line, stopping as soon as w is over.
func (p *pyPrinter) flat(w *lineWriter, v any, depth int) {
	if w.over {
		return
	}
	if depth > maxNesting {
		w.str("…")
		return
	}
	c := p.container(v, depth)
	if c == nil {
		p.scalar(w, v, depth)
		return
	}
	if !c.hasItems {
		w.str(c.empty)
		return
	}
	if p.active[c.id] {
		w.str(c.open + "..." + c.close)
		return
	}
	p.active[c.id] = true
	w.str(c.open)
	first := true
	c.items(func(it pyItem) bool {
		if !first {
			w.str(", ")
		}
		first = false
		switch {
		case it.keyed:
			p.flat(w, it.key, depth+1)
			w.str(": ")
		case it.kw != "":
			w.str(it.kw + "=")
		}
		p.flat(w, it.v, depth+1)
		return !w.over
	})
	if c.oneTuple {
		w.str(",")
	}
	w.str(c.close)
	delete(p.active, c.id)
}

// container describes v when it renders with items, or returns nil.
func (p *pyPrinter) container(v any, depth int) *pyContainer {
	switch t := v.(type) {
	case *types.List:
		return &pyContainer{id: t, open: "[", close: "]", empty: "[]", hasItems: len(*t) > 0, items: pyValues(*t)}
	case *types.Tuple:
		return &pyContainer{id: t, open: "(", close: ")", empty: "()", hasItems: len(*t) > 0, oneTuple: len(*t) == 1, items: pyValues(*t)}
	case *types.Dict:
		return &pyContainer{id: t, open: "{", close: "}", empty: "{}", hasItems: len(*t) > 0, items: pyEntries(*t)}
	case *types.OrderedDict:
		return &pyContainer{id: t, open: "OrderedDict({", close: "})", empty: "OrderedDict()", hasItems: t.List.Len() > 0,
			items: func(yield func(pyItem) bool) {
				for e := t.List.Front(); e != nil; e = e.Next() {
					if entry, ok := e.Value.(*types.OrderedDictEntry); ok && !yield(pyItem{key: entry.Key, keyed: true, v: entry.Value}) {
						return
					}
				}
			}}
	case *types.Set:
		return p.setContainer(t, "set", pyMapKeys(*t), depth)
	case *types.FrozenSet:
		return p.setContainer(t, "frozenset", pyMapKeys(*t), depth)
	case *types.GenericObject:
		name := Escape(t.Class.Module + "." + t.Class.Name)
		return &pyContainer{id: t, open: name + "(", close: ")", empty: name + "()", hasItems: len(t.ConstructorArgs) > 0, items: pyValues(t.ConstructorArgs)}
	case *pyObject:
		return p.objectContainer(t, depth)
	}
	return nil
}

func pyValues(vs []any) func(func(pyItem) bool) {
	return func(yield func(pyItem) bool) {
		for _, v := range vs {
			if !yield(pyItem{v: v}) {
				return
			}
		}
	}
}

func pyEntries(d types.Dict) func(func(pyItem) bool) {
	return func(yield func(pyItem) bool) {
		for _, e := range d {
			if !yield(pyItem{key: e.Key, keyed: true, v: e.Value}) {
				return
			}
		}
	}
}

func pyMapKeys[M ~map[any]V, V any](m M) []any {
	ks := make([]any, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// setContainer renders one of gopickle's own sets (Go maps). The
// normalizer rewrites the set opcodes so these should not occur, but if they
// do, their members are sorted by rendering: map order is random.
func (p *pyPrinter) setContainer(id any, kind string, elems []any, depth int) *pyContainer {
	if len(elems) > 1 {
		keyed := make([]struct {
			k string
			v any
		}, len(elems))
		for i, e := range elems {
			w := lineWriter{max: 200}
			p.flat(&w, e, depth+1)
			keyed[i].k, keyed[i].v = w.String(), e
		}
		slices.SortStableFunc(keyed, func(a, b struct {
			k string
			v any
		}) int {
			return cmp.Compare(a.k, b.k)
		})
		for i := range keyed {
			elems[i] = keyed[i].v
		}
	}
	c := &pyContainer{id: id, open: "{", close: "}", empty: "set()", hasItems: len(elems) > 0, items: pyValues(elems)}
	if kind == "frozenset" {
		c.open, c.close, c.empty = "frozenset({", "})", "frozenset()"
	}
	return c
}

// objCache keeps what rendering a pyObject costs more than O(1) to find,
// so that a DAG visiting one object many times does not repeat the work.
type objCache struct {
	native   string // native rendering, when isNative
	isNative bool
	bytes    []byte // its value, when it is bytes (_codecs.encode, bytes())
	isBytes  bool
	set      bool // a set or frozenset with the expected arguments
	kw       []types.DictEntry
	rest     []any
}

func (p *pyPrinter) cached(o *pyObject, depth int) *objCache {
	if o.cache != nil {
		return o.cache
	}
	c := &objCache{}
	o.cache = c // set first: native rendering may meet o again (cycles)
	c.bytes, c.isBytes = bytesOf(o)
	cls, _ := o.callee.(*pyClass)
	switch {
	case cls == nil || cls.native == "":
	case cls.native == "set" || cls.native == "frozenset":
		c.set = o.state == nil && o.dict == nil && (len(o.args) == 0 || len(o.args) == 1 && isSeq(o.args[0]))
	case c.isBytes:
		c.native, c.isNative = string(appendPyBytes(nil, c.bytes[:min(len(c.bytes), MaxLineBytes)])), true
	default:
		c.native, c.isNative = p.native(o, depth)
	}
	c.kw, c.rest = stateItems(o.state)
	return c
}

func isSeq(v any) bool {
	switch v.(type) {
	case *types.List, *types.Tuple:
		return true
	}
	return false
}

// objectContainer renders a called class or function: natively for sets, or
// as callee(args…, attr=state…, [list items], {dict items}). Other native
// classes render as scalars (see native) unless their arguments are not the
// expected ones.
func (p *pyPrinter) objectContainer(o *pyObject, depth int) *pyContainer {
	oc := p.cached(o, depth)
	if oc.isNative {
		return nil
	}
	if oc.set {
		var first, more []any
		if len(o.args) == 1 {
			switch t := o.args[0].(type) {
			case *types.List:
				first = *t
			case *types.Tuple:
				first = *t
			}
		}
		if o.items != nil {
			more = *o.items
		}
		c := &pyContainer{id: o, open: "{", close: "}", empty: "set()", hasItems: len(first)+len(more) > 0,
			items: func(yield func(pyItem) bool) {
				for _, vs := range [][]any{first, more} {
					for _, v := range vs {
						if !yield(pyItem{v: v}) {
							return
						}
					}
				}
			}}
		if o.callee.(*pyClass).native == "frozenset" {
			c.open, c.close, c.empty = "frozenset({", "})", "frozenset()"
		}
		return c
	}
	name := p.calleeName(o.callee, depth)
	kw, rest := oc.kw, oc.rest
	has := len(o.args) > 0 || len(kw) > 0 || len(rest) > 0 || o.items != nil || o.dict != nil
	return &pyContainer{id: o, open: name + "(", close: ")", empty: name + "()", hasItems: has,
		items: func(yield func(pyItem) bool) {
			for _, a := range o.args {
				if !yield(pyItem{v: a}) {
					return
				}
			}
			for _, e := range kw {
				if !yield(pyItem{kw: e.Key.(string), v: e.Value}) {
					return
				}
			}
			for _, s := range rest {
				if !yield(pyItem{kw: "__setstate__", v: s}) {
					return
				}
			}
			if o.items != nil && !yield(pyItem{v: o.items}) {
				return
			}
			if o.dict != nil {
				yield(pyItem{v: o.dict})
			}
		}}
}

// stateItems splits BUILD states into keyword items (a __dict__, or a
// (__dict__, slots) pair, with identifier keys) and states shown whole.
func stateItems(states []any) (kw []types.DictEntry, rest []any) {
	for _, s := range states {
		if s == nil {
			continue
		}
		if d, ok := s.(*types.Dict); ok && identKeys(d) {
			kw = append(kw, *d...)
			continue
		}
		if t, ok := s.(*types.Tuple); ok && t.Len() == 2 {
			d0, ok0 := t.Get(0).(*types.Dict)
			d1, ok1 := t.Get(1).(*types.Dict)
			if (t.Get(0) == nil || ok0 && identKeys(d0)) && (t.Get(1) == nil || ok1 && identKeys(d1)) {
				if ok0 {
					kw = append(kw, *d0...)
				}
				if ok1 {
					kw = append(kw, *d1...)
				}
				continue
			}
		}
		rest = append(rest, s)
	}
	return kw, rest
}

func identKeys(d *types.Dict) bool {
	for _, e := range *d {
		s, ok := e.Key.(string)
		if !ok || !isPyIdent(s) {
			return false
		}
	}
	return true
}

func isPyIdent(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i, r := range s {
		if r != '_' && !unicode.IsLetter(r) && (i == 0 || !unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}

// calleeName renders what was called: a class name, or any value (a
// getattr result, say) on one line.
func (p *pyPrinter) calleeName(callee any, depth int) string {
	if c, ok := callee.(*pyClass); ok {
		return Escape(c.qualName())
	}
	w := lineWriter{max: 200}
	p.flat(&w, callee, depth+1)
	return w.String()
}

// scalar writes a value that has no items.
func (p *pyPrinter) scalar(w *lineWriter, v any, depth int) {
	switch t := v.(type) {
	case nil:
		w.str("None")
	case bool:
		if t {
			w.str("True")
		} else {
			w.str("False")
		}
	case int:
		w.str(strconv.Itoa(t))
	case *big.Int:
		w.str(p.bigString(t))
	case float64:
		w.str(pyFloat(t))
	case string:
		w.quoted(t, appendPyQuote)
	case []byte:
		w.bytes(t)
	case *types.ByteArray:
		w.str("bytearray(")
		w.bytes(*t)
		w.str(")")
	case *pyClass:
		w.str(Escape(t.qualName()))
	case *types.GenericClass:
		w.str(Escape(t.Module + "." + t.Name))
	case *types.ObjectClass:
		w.str("builtins.object")
	case *types.Reconstructor:
		w.str("copyreg._reconstructor")
	case *types.OrderedDictClass:
		w.str("collections.OrderedDict")
	case *pyObject:
		oc := p.cached(t, depth)
		switch {
		case oc.isBytes:
			w.bytes(oc.bytes)
		case oc.isNative:
			w.str(oc.native)
		default:
			w.str("…") // not reached: objects without a native form are containers
		}
	default:
		w.str(Escape(fmt.Sprintf("<%T>", v)))
	}
}
