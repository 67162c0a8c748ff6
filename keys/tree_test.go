package keys

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// genKey is a generated key with the family the tree must put it in.
type genKey struct {
	key    string
	family string // the family's Pattern
	ttl    bool
	size   int  // value length
	hash   bool // a small hash instead of a string
}

// djangoKeyspace is a Django site's cache as django-redis lays it out
// (KEY_PREFIX "nalar", VERSION 1), with a few neighbours and hostile names.
// scale multiplies the big families.
func djangoKeyspace(r *rand.Rand, scale int) []genKey {
	var out []genKey
	add := func(key, family string, ttl bool, size int, hash bool) {
		out = append(out, genKey{key, family, ttl, size, hash})
	}
	for i := range 50 * scale {
		add(fmt.Sprintf("nalar:1:employee:%d:profile", i+1), "nalar:1:employee:*:profile", i%3 == 0, 200+r.IntN(400), true)
		add(fmt.Sprintf("nalar:1:employee:%d:settings", i+1), "nalar:1:employee:*:settings", false, 20+r.IntN(40), false)
	}
	for range 200 * scale {
		add("nalar:1:django.contrib.sessions.cache"+sessionID(r), "nalar:1:django.contrib.sessions.cache*", true, 300+r.IntN(2000), false)
	}
	for range 30 * scale {
		add("nalar:1:company:"+uuid(r), "nalar:1:company:*", false, 100+r.IntN(100), true)
	}
	for range 10 * scale {
		add(fmt.Sprintf("nalar:1:views.decorators.cache.cache_page.nalar.GET.%032x.%032x.en-us.UTC", r.Uint64(), r.Uint64()),
			"nalar:1:views.decorators.cache.cache_page.nalar.GET.*.*.en-us.UTC", true, 5000+r.IntN(20000), false)
	}
	for range 20 * scale {
		add("celery-task-meta-"+uuid(r), "celery-task-meta-*", true, 150, false)
	}
	for i := range 300 { // one-off names: the level folds past 200
		add(fmt.Sprintf("rate:10.0.%d.%d", i/250, i%250), "rate:*", true, 2, false)
	}
	add("config:site", "config:site", false, 50, false)
	add("config:flags", "config:flags", false, 60, true)
	add("we*ird:[x]:1", `we\*ird:\[x\]:1`, false, 10, false)
	add("esc\x1b[31m:red\nline", "esc\x1b\\[31m:red\nline", false, 10, false)
	add("bin\xff\x00", "bin\xff\x00", false, 10, false)
	return out
}

// familyTruth is the exact expected Stats per family, given each key's size.
func familyTruth(keys []genKey, sizeOf func(genKey) int64) map[string]Stats {
	want := map[string]Stats{}
	for _, g := range keys {
		s := want[g.family]
		s.add(g.key, KeyMeta{Bytes: sizeOf(g), HasTTL: g.ttl, TTLKnown: true})
		want[g.family] = s
	}
	return want
}

func familiesOf(t *Tree) map[string]Stats {
	got := map[string]Stats{}
	for _, n := range t.Families() {
		p := n.Pattern(t.Delimiter())
		if _, dup := got[p]; dup {
			panic("two families with pattern " + p)
		}
		got[p] = n.Own()
	}
	return got
}

func TestTreeDjangoLayout(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	keys := djangoKeyspace(r, 4)
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	size := func(g genKey) int64 { return int64(g.size + 50) }

	tree := NewTree(TreeOptions{})
	for _, g := range keys {
		tree.Add(g.key, KeyMeta{Bytes: size(g), HasTTL: g.ttl, TTLKnown: true})
	}
	got, want := familiesOf(tree), familyTruth(keys, size)
	if !maps.EqualFunc(got, want, statsEqual) {
		for _, p := range sortedKeys(want) {
			if !statsEqual(got[p], want[p]) {
				t.Errorf("family %q: got %+v, want %+v", p, brief(got[p]), brief(want[p]))
			}
		}
		for _, p := range sortedKeys(got) {
			if _, ok := want[p]; !ok {
				t.Errorf("unexpected family %q: %+v", p, brief(got[p]))
			}
		}
	}
	if root := tree.Root().Total(); root.Keys != int64(len(keys)) {
		t.Fatalf("root has %d keys, want %d", root.Keys, len(keys))
	}
	// Every key matches its family's pattern.
	for _, g := range keys {
		if !Match(g.family, g.key) {
			t.Errorf("%q does not match its family pattern %q", g.key, g.family)
		}
	}
	checkNodeCount(t, tree)
}

func statsEqual(a, b Stats) bool {
	return a.Keys == b.Keys && a.Bytes == b.Bytes && a.WithTTL == b.WithTTL && a.TTLKnown == b.TTLKnown &&
		a.LargestBytes == b.LargestBytes && a.Largest == b.Largest
}

func brief(s Stats) string {
	return fmt.Sprintf("keys %d bytes %d ttl %d/%d largest %q %d", s.Keys, s.Bytes, s.WithTTL, s.TTLKnown, s.Largest, s.LargestBytes)
}

// checkNodeCount: the tree's node counter is the number of reachable
// nodes, patterns are distinct, and the aggregates add up: a parent's total is its own keys plus
// its children's totals.
func checkNodeCount(t *testing.T, tree *Tree) {
	t.Helper()
	n := 0
	patterns := map[string]bool{}
	tree.Walk(func(nd *Node) bool {
		n++
		if p := nd.Pattern(tree.Delimiter()); nd.Parent() != nil {
			if patterns[p] {
				t.Fatalf("two nodes with pattern %q", p)
			}
			patterns[p] = true
		}
		sum := nd.Own().Keys
		for _, c := range nd.Children(ByKeys) {
			if c.Parent() != nd || c.Depth() != nd.Depth()+1 {
				t.Fatalf("node %q: child %q has parent %p depth %d", nd.Label(), c.Label(), c.Parent(), c.Depth())
			}
			sum += c.Total().Keys
		}
		if sum != nd.Total().Keys {
			t.Fatalf("node %q: total %d, own+children %d", nd.Pattern(":"), nd.Total().Keys, sum)
		}
		return true
	})
	if n != tree.Nodes() {
		t.Fatalf("Nodes() = %d, walk finds %d", tree.Nodes(), n)
	}
}

// TestTreeSessionsOfVaryingLength: ids of 16 to 40 characters glued to
// the same text still make one family, named by the most general split.
func TestTreeSessionsOfVaryingLength(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	tree := NewTree(TreeOptions{})
	for range 3000 {
		id := sessionID(r) + sessionID(r)
		tree.Add("nalar:1:django.contrib.sessions.cache"+id[:16+r.IntN(25)], KeyMeta{})
	}
	got := familiesOf(tree)
	if len(got) != 1 {
		t.Fatalf("families %q", sortedKeys(got))
	}
	for p, s := range got {
		if !strings.HasPrefix(p, "nalar:1:django.contrib.sessions.") || s.Keys != 3000 {
			t.Fatalf("family %q with %d keys", p, s.Keys)
		}
		t.Logf("family %q", p)
	}
	checkNodeCount(t, tree)
}

func TestTreeFoldsShortIDsOnlyWhenMany(t *testing.T) {
	tree := NewTree(TreeOptions{})
	for i := range 5 {
		tree.Add(fmt.Sprintf("shard:%d:jobs", i), KeyMeta{})
	}
	for i := range 50 {
		tree.Add(fmt.Sprintf("user:%d", i), KeyMeta{})
	}
	got := familiesOf(tree)
	want := []string{"shard:0:jobs", "shard:1:jobs", "shard:2:jobs", "shard:3:jobs", "shard:4:jobs", "user:*"}
	if g := sortedKeys(got); !slices.Equal(g, want) {
		t.Fatalf("families %q, want %q", g, want)
	}
	checkNodeCount(t, tree)
}

func TestTreeKeepsBigNamesWhenALevelFolds(t *testing.T) {
	tree := NewTree(TreeOptions{MaxChildren: 50})
	for i := range 1000 {
		tree.Add(fmt.Sprintf("app:employee:e%c%c", 'a'+i%26, 'a'+i/26%26), KeyMeta{})
		if i%10 == 0 {
			tree.Add(fmt.Sprintf("app:company:c%c%c", 'a'+i%26, 'a'+i/26%26), KeyMeta{})
		}
	}
	for i := range 300 {
		tree.Add(fmt.Sprintf("app:oneoff-%c%c%c", 'a'+i%26, 'a'+i/26%26, 'a'+i/676), KeyMeta{})
	}
	got := familiesOf(tree)
	for p, n := range map[string]int64{"app:employee:*": 1000, "app:company:*": 100, "app:*": 300} {
		if got[p].Keys != n {
			t.Errorf("family %q: %d keys, want %d (families %q)", p, got[p].Keys, n, sortedKeys(got))
		}
	}
	checkNodeCount(t, tree)
}

// TestTreeMemoryIsBounded adds 200k distinct, random, id-free names, each
// level narrow enough not to fold by itself (150 names) but 22,500 pairs
// and 3.4M triples in all: the node count stays under the cap and the
// counts stay exact.
func TestTreeMemoryIsBounded(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	words := make([]string, 150)
	for i := range words {
		b := make([]byte, 4+r.IntN(6))
		for j := range b {
			b[j] = byte('a' + r.IntN(26))
		}
		words[i] = string(b)
	}
	for _, maxNodes := range []int{10000, 300} {
		tree := NewTree(TreeOptions{MaxNodes: maxNodes})
		var bytes int64
		for i := range 200000 {
			segs := make([]string, 1+r.IntN(4))
			for j := range segs {
				segs[j] = words[r.IntN(len(words))]
			}
			b := int64(50 + r.IntN(100))
			bytes += b
			tree.Add(strings.Join(segs, ":"), KeyMeta{Bytes: b})
			if tree.Nodes() > maxNodes {
				t.Fatalf("cap %d: %d nodes after %d keys", maxNodes, tree.Nodes(), i+1)
			}
		}
		root := tree.Root().Total()
		var own int64
		for _, f := range tree.Families() {
			own += f.Own().Keys
		}
		if root.Keys != 200000 || own != 200000 || root.Bytes != bytes {
			t.Fatalf("cap %d: root %d keys %d bytes, families %d keys", maxNodes, root.Keys, root.Bytes, own)
		}
		checkNodeCount(t, tree)
		t.Logf("cap %d: %d nodes, %d families", maxNodes, tree.Nodes(), len(tree.Families()))
	}
}

func TestTreePatternsAndChildren(t *testing.T) {
	tree := NewTree(TreeOptions{Delimiter: "/"})
	tree.Add("a/b", KeyMeta{Bytes: 10})
	tree.Add("a/c", KeyMeta{Bytes: 30})
	tree.Add("a/c/d", KeyMeta{Bytes: 5})
	tree.Add("a", KeyMeta{Bytes: 1})
	tree.Add("x*/y", KeyMeta{Bytes: 100})
	root := tree.Root()
	kids := root.Children(ByKeys)
	if len(kids) != 2 || kids[0].Label() != "a" || kids[1].Label() != "x*" {
		t.Fatalf("children by keys: %v", labels(kids))
	}
	if kids = root.Children(ByBytes); kids[0].Label() != "x*" {
		t.Fatalf("children by bytes: %v", labels(kids))
	}
	a := root.Children(ByLabel)[0]
	c := a.Children(ByBytes)[0]
	for _, tc := range []struct{ got, want string }{
		{a.Pattern("/"), "a"},
		{a.SubtreePattern("/"), "a*"},
		{c.Pattern("/"), "a/c"},
		{c.SubtreePattern("/"), "a/c*"},
		{c.Children(ByKeys)[0].SubtreePattern("/"), "a/c/d"},
		{root.Children(ByBytes)[0].SubtreePattern("/"), `x\*/*`},
		{root.SubtreePattern("/"), "*"},
	} {
		if tc.got != tc.want {
			t.Errorf("pattern %q, want %q", tc.got, tc.want)
		}
	}
	if s := c.Total(); s.Keys != 2 || s.Bytes != 35 || s.Largest != "a/c" || s.LargestBytes != 30 {
		t.Errorf("a/c totals %+v", s)
	}
}

func labels(ns []*Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Label())
	}
	return out
}

func BenchmarkTreeAdd(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	keys := djangoKeyspace(r, 20)
	tree := NewTree(TreeOptions{})
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		tree.Add(keys[i%len(keys)].key, KeyMeta{Bytes: 100})
	}
}

// TestTreeInvariantsUnderPressure adds awkward random names to trees with
// tiny bounds, so every fold and merge path runs, and checks the counts,
// the node cap and that every key matches some family's pattern.
func TestTreeInvariantsUnderPressure(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const alphabet = "ab:*[\\\x00\xff0123456789"
	for _, opt := range []TreeOptions{
		{MaxNodes: 40, MaxChildren: 5, MaxDepth: 4},
		{MaxNodes: 200, MaxChildren: 20},
		{Delimiter: "::", MaxNodes: 60},
	} {
		tree := NewTree(opt)
		var keys []string
		for i := range 5000 {
			var k string
			switch i % 4 {
			case 0:
				k = randString(r, alphabet, 12)
			case 1:
				k = fmt.Sprintf("s:%d:%s", r.IntN(50), sessionID(r))
			case 2:
				k = fmt.Sprintf("u:%s:x", uuid(r))
			default:
				k = fmt.Sprintf("w%d:%d:%d", r.IntN(30), r.IntN(300), r.IntN(3))
			}
			keys = append(keys, k)
			tree.Add(k, KeyMeta{Bytes: int64(len(k) + 1), TTLKnown: true, HasTTL: i%2 == 0})
			if tree.Nodes() > tree.opt.MaxNodes {
				t.Fatalf("%+v: %d nodes", opt, tree.Nodes())
			}
		}
		checkNodeCount(t, tree)
		if got := tree.Root().Total(); got.Keys != 5000 || got.WithTTL != 2500 || got.TTLKnown != 5000 {
			t.Fatalf("%+v: root %+v", opt, got)
		}
		var pats []string
		for _, f := range tree.Families() {
			pats = append(pats, f.Pattern(tree.Delimiter()))
		}
		for _, k := range keys {
			if !slices.ContainsFunc(pats, func(p string) bool { return Match(p, k) }) {
				t.Fatalf("%+v: key %q matches no family (%d families)", opt, k, len(pats))
			}
		}
	}
}
