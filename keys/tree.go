package keys

import (
	"cmp"
	"redtop/internal/keyshape"
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

// Label is the node's segment: the literal text, or for a folded node a
// glob with `*` for the folded parts. Both are raw bytes from key names
// (a shape keeps its fixed text, control bytes included): escape either
// before printing it.
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
//
// Folding merges nodes: a *Node held across Add calls may have been
// merged into a sibling (its counts frozen). Keep a node's Pattern, which
// names it, and walk the tree again after adding keys.
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
	kind, glob := keyshape.Classify(seg)
	switch kind {
	case keyshape.Wild:
		return t.wildOf(n)
	case keyshape.Shape:
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
	case keyshape.ID:
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
	c.isID = kind == keyshape.ID
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
// node. Check with a SCAN before acting on it. Patterns are distinct
// among the nodes under the root (the root's is "", which names no key of
// its own).
func (n *Node) Pattern(delimiter string) string {
	p := n.path()
	if len(p) == 0 {
		return "" // the root: no key ends there (the empty key's family is "" too)
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
