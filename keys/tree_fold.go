package keys

import (
	"cmp"
	"redtop/internal/keyshape"
	"slices"
	"strings"
)

// Folding: how the tree keeps its size bounded. Ids fold into `*` as they
// come (classify), shapes of random tails unify, wide levels fold their
// small names, and when the whole tree passes MaxNodes the deepest wide
// levels fold until it is back under 3/4 of it.

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
	for i > 0 && keyshape.IsAlnum(stem[i-1]) {
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
		case keyshape.IsDigit(tail[i]):
			digit = true
		case keyshape.IsAlnum(tail[i]):
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
