package keys

import (
	"cmp"
	"slices"
	"strings"
)

// KeyMeta is what is known of a key besides its name.
type KeyMeta struct {
	Bytes    int64 // MEMORY USAGE; 0 when unknown
	HasTTL   bool  // the key expires (meaningful when TTLKnown)
	TTLKnown bool
}

// Stats aggregate the keys of a node: never a list of them.
type Stats struct {
	Keys         int64
	Bytes        int64   // sum of the known sizes
	Sized        int64   // keys whose size is known
	BytesSq      float64 // sum of squared sizes, for the error bars of samples
	WithTTL      int64   // keys known to expire
	TTLKnown     int64   // keys whose TTL is known
	Largest      string  // the largest key by known size ("" until one is sized)
	LargestBytes int64
}

func (s *Stats) add(key string, m KeyMeta) {
	s.Keys++
	if m.Bytes > 0 {
		s.Bytes += m.Bytes
		s.Sized++
		s.BytesSq += float64(m.Bytes) * float64(m.Bytes)
		if biggerKey(m.Bytes, key, s.LargestBytes, s.Largest) {
			s.Largest, s.LargestBytes = key, m.Bytes
		}
	}
	if m.TTLKnown {
		s.TTLKnown++
		if m.HasTTL {
			s.WithTTL++
		}
	}
}

func (s *Stats) merge(o Stats) {
	s.Keys += o.Keys
	s.Bytes += o.Bytes
	s.Sized += o.Sized
	s.BytesSq += o.BytesSq
	s.WithTTL += o.WithTTL
	s.TTLKnown += o.TTLKnown
	if o.LargestBytes > 0 && biggerKey(o.LargestBytes, o.Largest, s.LargestBytes, s.Largest) {
		s.Largest, s.LargestBytes = o.Largest, o.LargestBytes
	}
}

// biggerKey orders keys by size, then name, so the largest key of a node
// does not depend on the order keys came in.
func biggerKey(bytes int64, key string, thanBytes int64, than string) bool {
	return bytes > thanBytes || bytes == thanBytes && key < than
}

// NodeKind says what a node's segment stands for.
type NodeKind uint8

const (
	Literal NodeKind = iota // one segment text, exactly
	Folded                  // any segment: "*"
	Shape                   // a segment with random parts folded: "django.contrib.sessions.cache*"
)

// Node is one prefix in the tree. Read it from the goroutine that adds
// keys (the tree has no lock).
type Node struct {
	kind   NodeKind
	seg    string // the literal text, the shape's glob, or "*"
	parent *Node
	depth  int
	total  Stats // every key at or under this node
	own    Stats // the keys that end here

	lits   map[string]*Node
	shapes map[string]*Node
	wild   *Node

	isID     bool // a literal that is a short id
	idKids   int  // literal children that are short ids
	idFolded bool // short ids go to wild
	wildAll  bool // the level is folded: every new name goes to wild
	minLen   int  // for shapes: the shortest and longest segment seen
	maxLen   int
	dead     bool // merged into another node
}

// Kind is the node's kind.
func (n *Node) Kind() NodeKind { return n.kind }

// Label is the node's segment as shown: the literal text (raw: escape it
// for a terminal), or a glob with `*` for folded parts.
func (n *Node) Label() string { return n.seg }

// Parent is nil for the root.
func (n *Node) Parent() *Node { return n.parent }

// Depth is 0 for the root, 1 for the first segment.
func (n *Node) Depth() int { return n.depth }

// Total aggregates every key at or under the node.
func (n *Node) Total() Stats { return n.total }

// Own aggregates the keys whose name ends at this node: the node's
// family, the keys its Pattern names.
func (n *Node) Own() Stats { return n.own }

// Order sorts children.
type Order uint8

const (
	ByKeys  Order = iota // most keys first
	ByBytes              // most memory first
	ByLabel              // by segment text
)

// Children returns the node's children, sorted.
func (n *Node) Children(by Order) []*Node {
	out := make([]*Node, 0, len(n.lits)+len(n.shapes)+1)
	for _, c := range n.lits {
		out = append(out, c)
	}
	for _, c := range n.shapes {
		out = append(out, c)
	}
	if n.wild != nil {
		out = append(out, n.wild)
	}
	slices.SortFunc(out, func(a, b *Node) int {
		switch by {
		case ByKeys:
			if c := cmp.Compare(b.total.Keys, a.total.Keys); c != 0 {
				return c
			}
		case ByBytes:
			if c := cmp.Compare(b.total.Bytes, a.total.Bytes); c != 0 {
				return c
			}
		}
		if c := cmp.Compare(a.kind, b.kind); c != 0 {
			return c
		}
		return strings.Compare(a.seg, b.seg)
	})
	return out
}

// path returns the nodes from the first segment down to n.
func (n *Node) path() []*Node {
	var p []*Node
	for c := n; c != nil && c.parent != nil; c = c.parent {
		p = append(p, c)
	}
	slices.Reverse(p)
	return p
}

// Tree aggregates a keyspace by prefix, in memory bounded by MaxNodes
// whatever the number of keys: ids and random parts fold into `*`, and
// levels with too many distinct names fold their small ones. It is not
// safe for concurrent use: add batches from the goroutine that reads it.
type Tree struct {
	opt   TreeOptions
	root  *Node
	nodes int
}

// TreeOptions bound a tree. Zero values take the defaults.
type TreeOptions struct {
	Delimiter   string // between segments; default ":"
	MaxNodes    int    // default 10000
	MaxChildren int    // distinct names under one node before it folds; default 200
	MaxDepth    int    // segments; the rest of a longer name is one segment; default 12
}

// NewTree returns an empty tree.
func NewTree(opt TreeOptions) *Tree {
	if opt.Delimiter == "" {
		opt.Delimiter = ":"
	}
	if opt.MaxNodes <= 0 {
		opt.MaxNodes = 10000
	}
	if opt.MaxChildren <= 0 {
		opt.MaxChildren = 200
	}
	if opt.MaxDepth <= 0 {
		opt.MaxDepth = 12
	}
	return &Tree{opt: opt, root: newNode(nil, Literal, ""), nodes: 1}
}

func newNode(parent *Node, kind NodeKind, seg string) *Node {
	n := &Node{kind: kind, seg: seg, parent: parent}
	if parent != nil {
		n.depth = parent.depth + 1
	}
	return n
}

// Root holds the totals of every key added.
func (t *Tree) Root() *Node { return t.root }

// Nodes is the number of nodes, root included: at most MaxNodes (but for
// a pathological chain no fold can shorten).
func (t *Tree) Nodes() int { return t.nodes }

// Delimiter is the segment separator.
func (t *Tree) Delimiter() string { return t.opt.Delimiter }

// Add counts one key.
func (t *Tree) Add(key string, meta KeyMeta) {
	d := t.opt.Delimiter
	n := t.root
	n.total.add(key, meta)
	rest := key
	for depth := 1; ; depth++ {
		seg, last := rest, true
		if depth < t.opt.MaxDepth {
			if i := strings.Index(rest, d); i >= 0 {
				seg, rest, last = rest[:i], rest[i+len(d):], false
			}
		}
		n = t.child(n, seg)
		n.total.add(key, meta)
		if last {
			break
		}
	}
	n.own.add(key, meta)
	if t.nodes > t.opt.MaxNodes {
		t.compact()
	}
}

// child finds or makes the child of n that seg belongs to.
func (t *Tree) child(n *Node, seg string) *Node {
	if c := n.lits[seg]; c != nil {
		return c
	}
	kind, glob := classify(seg)
	switch kind {
	case segWild:
		return t.wildOf(n)
	case segShape:
		if c := n.shapes[glob]; c != nil {
			c.seeLen(len(seg))
			return c
		}
		if n.wildAll {
			return t.wildOf(n)
		}
		if g := t.generalShape(n, glob); g != nil {
			g.seeLen(len(seg))
			return g
		}
		c := newNode(n, Shape, glob)
		c.seeLen(len(seg))
		if n.shapes == nil {
			n.shapes = map[string]*Node{}
		}
		n.shapes[glob] = c
		t.nodes++
		t.absorbShapes(n, c)
		t.checkWidth(n)
		if n.shapes[glob] != c {
			return t.child(n, seg)
		}
		return c
	case segID:
		if n.idFolded || n.wildAll {
			return t.wildOf(n)
		}
	default:
		// A token that happened to look tame ("…cache" and 32 letters,
		// no digit) joins the shape its siblings made.
		for _, s := range n.shapes {
			if s.admits(seg) {
				return s
			}
		}
		if n.wildAll {
			return t.wildOf(n)
		}
	}
	seg = strings.Clone(seg) // not a slice of the whole key
	c := newNode(n, Literal, seg)
	c.isID = kind == segID
	if n.lits == nil {
		n.lits = map[string]*Node{}
	}
	n.lits[seg] = c
	t.nodes++
	if c.isID {
		n.idKids++
		if n.idKids >= idFoldMin {
			t.foldIDs(n)
		}
	}
	t.checkWidth(n)
	if n.lits[seg] != c {
		return t.child(n, seg)
	}
	return c
}

// A random tail glued to a fixed text may be split a few characters off
// when ids vary in length: "cache" + 30 random characters reads as "cac"
// and 32, or "cache7x" and 30. Shapes that differ only there are one
// family: the most general one ("…sessions.cac*") takes the others.

// trailingShape splits a glob "base" + "run" + "*", run being the
// alphanumeric text just before the one `*`.
func trailingShape(glob string) (base, run string, ok bool) {
	stem, ok := strings.CutSuffix(glob, "*")
	if !ok || strings.HasSuffix(stem, `\`) || strings.ContainsAny(strings.ReplaceAll(stem, `\*`, ""), "*") {
		return "", "", false
	}
	i := len(stem)
	for i > 0 && isAlnum(stem[i-1]) {
		i--
	}
	return stem[:i], stem[i:], true
}

// generalShape finds a sibling shape as general as glob or more.
func (t *Tree) generalShape(n *Node, glob string) *Node {
	base, run, ok := trailingShape(glob)
	if !ok {
		return nil
	}
	for _, s := range n.shapes {
		if b, r, ok := trailingShape(s.seg); ok && b == base && strings.HasPrefix(run, r) {
			return s
		}
	}
	return nil
}

// absorbShapes merges into c the sibling shapes it generalizes, and the
// literal siblings that were its members before it existed.
func (t *Tree) absorbShapes(n, c *Node) {
	for _, l := range n.lits {
		if !l.isID && c.admits(l.seg) {
			t.detach(n, l)
			t.mergeInto(c, l)
		}
	}
	base, run, ok := trailingShape(c.seg)
	if !ok {
		return
	}
	for _, s := range n.shapes {
		if s == c {
			continue
		}
		if b, r, ok := trailingShape(s.seg); ok && b == base && strings.HasPrefix(r, run) {
			t.detach(n, s)
			t.mergeInto(c, s)
		}
	}
}

// admits tells whether a segment that classify left literal is a member
// of shape n all the same: it matches, and it is as long as the members
// seen, or its tail in place of the `*` is a short token (letters and
// digits, both).
func (n *Node) admits(seg string) bool {
	if !Match(n.seg, seg) {
		return false
	}
	if len(seg) >= n.minLen && len(seg) <= n.maxLen {
		return true
	}
	base, run, ok := trailingShape(n.seg)
	if !ok {
		return false
	}
	head := 0 // the length of base+run as the key spells it
	for i := 0; i < len(base); i++ {
		if base[i] == '\\' {
			i++
		}
		head++
	}
	tail := seg[min(head+len(run), len(seg)):]
	if len(tail) < 6 {
		return false
	}
	var letter, digit bool
	for i := 0; i < len(tail); i++ {
		switch {
		case isDigit(tail[i]):
			digit = true
		case isAlnum(tail[i]):
			letter = true
		default:
			return false
		}
	}
	return letter && digit
}

func (n *Node) seeLen(l int) {
	if n.minLen == 0 || l < n.minLen {
		n.minLen = l
	}
	if l > n.maxLen {
		n.maxLen = l
	}
}

func (t *Tree) wildOf(n *Node) *Node {
	if n.wild == nil {
		n.wild = newNode(n, Folded, "*")
		t.nodes++
	}
	return n.wild
}

// checkWidth folds a level that has too many distinct names.
func (t *Tree) checkWidth(n *Node) {
	if len(n.lits)+len(n.shapes) > t.opt.MaxChildren {
		t.foldLevel(n, true)
	}
}

// foldLevel merges n's named children into its `*` child, and sends every
// name seen later there too. With keepBig, the few children that hold at
// least 1% of n's keys stay (up to 32): "employee" keeps its node when a
// long tail of one-off names folds.
func (t *Tree) foldLevel(n *Node, keepBig bool) {
	n.wildAll = true
	kids := make([]*Node, 0, len(n.lits)+len(n.shapes))
	for _, c := range n.lits {
		kids = append(kids, c)
	}
	for _, c := range n.shapes {
		kids = append(kids, c)
	}
	slices.SortFunc(kids, func(a, b *Node) int { return cmp.Compare(b.total.Keys, a.total.Keys) })
	kept := 0
	w := t.wildOf(n)
	for _, c := range kids {
		if keepBig && kept < 32 && c.total.Keys >= 2 && c.total.Keys*100 >= n.total.Keys {
			kept++
			continue
		}
		t.detach(n, c)
		t.mergeInto(w, c)
	}
}

// foldIDs merges the short-id children (numbers, short hex) into `*`.
func (t *Tree) foldIDs(n *Node) {
	n.idFolded = true
	w := t.wildOf(n)
	for _, c := range n.lits {
		if c.isID {
			t.detach(n, c)
			t.mergeInto(w, c)
		}
	}
}

func (t *Tree) detach(parent, c *Node) {
	switch c.kind {
	case Literal:
		delete(parent.lits, c.seg)
		if c.isID {
			parent.idKids--
		}
	case Shape:
		delete(parent.shapes, c.seg)
	case Folded:
		parent.wild = nil
	}
}

// mergeInto adds the detached node src and its subtree into dst, a node
// at the same depth, and drops src.
func (t *Tree) mergeInto(dst, src *Node) {
	dst.total.merge(src.total)
	dst.own.merge(src.own)
	if src.kind == Shape {
		dst.seeLen(src.minLen)
		dst.seeLen(src.maxLen)
	}
	lits, shapes, wild := src.lits, src.shapes, src.wild
	src.lits, src.shapes, src.wild, src.dead = nil, nil, nil, true
	t.nodes--
	for _, c := range lits {
		t.attach(dst, c)
	}
	for _, c := range shapes {
		t.attach(dst, c)
	}
	if wild != nil {
		t.attach(dst, wild)
	}
	if dst.idKids >= idFoldMin && !dst.dead {
		t.foldIDs(dst)
	}
	if !dst.dead {
		t.checkWidth(dst)
	}
}

// attach puts the detached subtree c under dst, merging it with the child
// of dst it corresponds to.
func (t *Tree) attach(dst, c *Node) {
	switch c.kind {
	case Folded:
		if dst.wild == nil {
			c.parent, dst.wild = dst, c
			return
		}
		t.mergeInto(dst.wild, c)
	case Shape:
		if d := dst.shapes[c.seg]; d != nil {
			t.mergeInto(d, c)
		} else if dst.wildAll {
			t.mergeInto(t.wildOf(dst), c)
		} else {
			if dst.shapes == nil {
				dst.shapes = map[string]*Node{}
			}
			c.parent, dst.shapes[c.seg] = dst, c
		}
	case Literal:
		if d := dst.lits[c.seg]; d != nil {
			t.mergeInto(d, c)
		} else if dst.wildAll || c.isID && dst.idFolded {
			t.mergeInto(t.wildOf(dst), c)
		} else {
			if dst.lits == nil {
				dst.lits = map[string]*Node{}
			}
			c.parent, dst.lits[c.seg] = dst, c
			if c.isID {
				dst.idKids++
			}
		}
	}
}

// compact folds levels until the tree is back under 3/4 of
// MaxNodes, so it does not run again at the next key.
func (t *Tree) compact() {
	target := t.opt.MaxNodes * 3 / 4
	type cand struct {
		n    *Node
		gain int
	}
	var cands []cand
	t.Walk(func(n *Node) bool {
		k := len(n.lits) + len(n.shapes)
		gain := k
		if n.wild == nil {
			gain--
		}
		if gain > 0 {
			cands = append(cands, cand{n, gain})
		}
		return true
	})
	// Deepest first, so the top levels, the ones an operator reads,
	// stay; within a level, the widest first.
	slices.SortFunc(cands, func(a, b cand) int {
		if c := cmp.Compare(b.n.depth, a.n.depth); c != 0 {
			return c
		}
		return cmp.Compare(b.gain, a.gain)
	})
	for _, c := range cands {
		if t.nodes <= target {
			return
		}
		if !c.n.dead {
			t.foldLevel(c.n, false)
		}
	}
}

// Walk visits nodes depth first, parents before children, in no set
// order among siblings; fn returns false to skip a node's children.
func (t *Tree) Walk(fn func(*Node) bool) {
	var walk func(n *Node)
	walk = func(n *Node) {
		if !fn(n) {
			return
		}
		for _, c := range n.lits {
			walk(c)
		}
		for _, c := range n.shapes {
			walk(c)
		}
		if n.wild != nil {
			walk(n.wild)
		}
	}
	walk(t.root)
}

// Families returns the nodes where keys end, each a family of keys its
// Pattern names; together they partition the keys added.
func (t *Tree) Families() []*Node {
	var out []*Node
	t.Walk(func(n *Node) bool {
		if n.own.Keys > 0 {
			out = append(out, n)
		}
		return true
	})
	return out
}

// Pattern is a glob for the node's family, the keys that end at it:
// "nalar:1:employee:*:profile". Literal segments are quoted, so a key
// name holding `*` or `[` matches only itself. It matches every key of
// the family and possibly more: a `*` also spans delimiters, so
// "user:*:profile" also matches "user:1:x:profile", which sits on another
// node. Check with a SCAN before acting on it.
func (n *Node) Pattern(delimiter string) string {
	p := n.path()
	if len(p) == 0 {
		return "*"
	}
	var b strings.Builder
	d := QuoteGlob(delimiter)
	for i, c := range p {
		if i > 0 {
			b.WriteString(d)
		}
		if c.kind == Literal {
			b.WriteString(QuoteGlob(c.seg))
		} else {
			b.WriteString(c.seg)
		}
	}
	return b.String()
}

// SubtreePattern is a glob for every key at or under the node: Pattern
// plus the delimiter and `*` when keys continue below it (and, when some
// keys also end at the node, Pattern then `*`, which matches more).
func (n *Node) SubtreePattern(delimiter string) string {
	p := n.Pattern(delimiter)
	switch {
	case n.parent == nil:
		return "*"
	case n.own.Keys == n.total.Keys:
		return p
	case n.own.Keys == 0:
		return p + QuoteGlob(delimiter) + "*"
	}
	return p + "*"
}
