package keys

// Merge adds to t every key o counted, as if they had been added to t
// (up to how the two trees folded before): o's nodes join t's nodes of the
// same segment, and levels made too wide fold. Both trees must split on
// the same delimiter. o is used up: its nodes move into t.
//
// A cluster analysis measures each master into a tree of its own, so a
// master's part can be dropped and started again after a failover, then
// merges them.
func (t *Tree) Merge(o *Tree) {
	if o == nil || o == t || o.root.total.Keys == 0 {
		return
	}
	src := o.root
	t.root.total.merge(src.total)
	t.root.own.merge(src.own)
	// o's nodes but its root move in; every merge with a node of t takes
	// one out again (mergeInto).
	t.nodes += o.nodes - 1
	lits, shapes, wild := src.lits, src.shapes, src.wild
	src.lits, src.shapes, src.wild = nil, nil, nil
	o.root, o.nodes = newNode(nil, Literal, ""), 1
	for _, c := range lits {
		t.attach(t.root, c)
	}
	for _, c := range shapes {
		t.attach(t.root, c)
	}
	if wild != nil {
		t.attach(t.root, wild)
	}
	if t.root.idKids >= idFoldMin {
		t.foldIDs(t.root)
	}
	t.checkWidth(t.root)
	if t.nodes > t.opt.MaxNodes {
		t.compact()
	}
}
