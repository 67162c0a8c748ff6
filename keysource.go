package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
	"redtop/keys"
	"redtop/redisinfo"
	"redtop/ui"
)

// keySource adapts keys/ to the browser's ui.KeySource, for one server or
// for every master of a Redis Cluster. Its clients open on first use: a
// dashboard that never opens the key browser never probes, never opens
// them.
//
// On a cluster a scan walks the masters one after the other with a
// composite cursor (see clusterScanPage), and each key goes to the master
// serving its slot.
type keySource struct {
	target  conn.Target
	node    string
	ledger  *redisinfo.Ledger
	probe   *redis.Client // the app's reading client, for the probe (on a cluster, the seed)
	ro      bool          // --readonly
	cluster bool

	once   sync.Once
	err    error
	caps   keys.Caps
	reader *redis.Client // NO-TOUCH when the server allows
	writer *keys.Writer
	wc     *redis.Client

	cl      *keys.Cluster // a cluster: its masters' clients
	mu      sync.Mutex
	writers map[string]*keys.Writer // a cluster: by master
}

func newKeySource(app *App, o browseOptions) *keySource {
	return &keySource{target: app.Target, node: app.Target.Addr, ledger: app.Ledger, probe: app.Client, ro: o.readOnly,
		cluster: app.ClusterMasters > 0}
}

// open probes the server once and opens the reader and writer clients.
func (s *keySource) open(ctx context.Context) error {
	s.once.Do(func() {
		pctx, cancel := context.WithTimeout(ctx, 2*s.target.Timeout)
		defer cancel()
		if s.cluster {
			s.err = s.openCluster(pctx)
			return
		}
		caps, err := keys.Probe(pctx, s.probe, s.node, s.ledger)
		if err != nil {
			s.err = conn.Explain(err, s.target)
			return
		}
		if s.ro {
			caps.ReadOnly, caps.ReadOnlyReason = true, "--readonly"
		}
		s.caps = caps
		o := s.target.Options()
		if caps.NoTouch {
			keys.EnableNoTouch(o, s.node, s.ledger, nil)
		}
		s.reader = redis.NewClient(o)
		s.wc = redis.NewClient(s.target.WriterOptions())
		s.writer, s.err = keys.NewWriter(s.wc, s.node, s.ledger, caps)
	})
	return s.err
}

// Close closes the clients opened.
func (s *keySource) Close() {
	if s.cl != nil {
		s.cl.Close()
	}
	if s.reader != nil {
		s.reader.Close()
	}
	if s.wc != nil {
		s.wc.Close()
	}
}

func (s *keySource) Caps(ctx context.Context) (ui.KeyCaps, error) {
	if err := s.open(ctx); err != nil {
		return ui.KeyCaps{}, err
	}
	return ui.KeyCaps{ReadOnly: s.caps.ReadOnly, ReadOnlyReason: s.caps.ReadOnlyReason, LFU: s.caps.LFU, NoTouch: s.caps.NoTouch}, nil
}

func (s *keySource) NewTree(delim string) ui.KeyTree {
	return &treeAdapter{t: keys.NewTree(keys.TreeOptions{Delimiter: delim}), ids: map[string]*keys.Node{}}
}

func (s *keySource) DBSize(ctx context.Context) (int64, error) {
	if err := s.open(ctx); err != nil {
		return 0, err
	}
	if s.cl != nil {
		return s.clusterDBSize(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, s.target.Timeout)
	defer cancel()
	n, err := s.reader.DBSize(ctx).Result()
	if err == nil {
		s.ledger.Call(s.node, "dbsize", 1)
	}
	return n, s.explain(err)
}

func (s *keySource) ScanPage(ctx context.Context, cursor uint64, pattern, typ string, meta bool) (ui.ScanPage, error) {
	if err := s.open(ctx); err != nil {
		return ui.ScanPage{}, err
	}
	if s.cl != nil {
		return s.clusterScanPage(ctx, cursor, pattern, typ, meta)
	}
	st, err := keys.ScanStep(ctx, s.reader, s.node, s.ledger, cursor, keys.ScanOptions{Match: pattern, Type: typ, Timeout: s.target.Timeout}, meta)
	if err != nil {
		return ui.ScanPage{}, s.explain(err)
	}
	return scanPage(st, meta, st.Cursor, st.Done, keys.Progress{Cursor: st.Cursor, Calls: int64(st.Calls)}.Fraction()), nil
}

// scanPage is a step of a scan as the browser takes it.
func scanPage(st keys.Step, meta bool, cursor uint64, done bool, visited float64) ui.ScanPage {
	p := ui.ScanPage{Cursor: cursor, Done: done, Scanned: int64(len(st.Keys)), Keys: make([]ui.ScannedKey, 0, len(st.Keys)),
		Visited: visited}
	for i, k := range st.Keys {
		sk := ui.ScannedKey{Key: k}
		if meta && i < len(st.Meta) {
			sk.Bytes, sk.HasTTL, sk.TTLKnown = st.Meta[i].Bytes, st.Meta[i].HasTTL, st.Meta[i].TTLKnown
		}
		p.Keys = append(p.Keys, sk)
	}
	return p
}

func (s *keySource) Inspect(ctx context.Context, names []string) ([]ui.KeyRow, error) {
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.target.Timeout)
	defer cancel()
	var infos []keys.KeyInfo
	var err error
	if s.cl != nil {
		infos, err = s.clusterInspect(ctx, names)
	} else {
		infos, err = keys.InspectWith(ctx, s.reader, s.node, s.ledger, names, s.caps.InspectOptions())
	}
	if err != nil {
		return nil, s.explain(err)
	}
	rows := make([]ui.KeyRow, len(infos))
	for i, k := range infos {
		rows[i] = ui.KeyRow{Key: k.Key, Exists: k.Exists, Type: k.Type, TTL: k.TTL, Bytes: k.Bytes,
			Idle: k.Idle, Freq: k.Freq, LFU: s.caps.LFU, Encoding: k.Encoding, Len: k.Len}
	}
	return rows, nil
}

// Value reads one page of a key: the first 64 KiB of a string, or 200
// elements of a collection, each decoded for the view.
func (s *keySource) Value(ctx context.Context, row ui.KeyRow, view ui.ValueView, cursor string) (ui.ValuePage, error) {
	if err := s.open(ctx); err != nil {
		return ui.ValuePage{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.target.Timeout)
	defer cancel()
	reader, node := s.reader, s.node
	if s.cl != nil {
		if node = s.cl.Owner(row.Key); node == "" {
			return ui.ValuePage{}, fmt.Errorf("no master serves the slot of %s", keys.Escape(row.Key))
		}
		reader = s.cl.Reader(node)
	}
	v := keys.View(view)
	if row.Type == "string" {
		b, total, truncated, err := keys.ReadString(ctx, reader, node, s.ledger, row.Key, 0)
		if err != nil {
			return ui.ValuePage{}, s.explain(err)
		}
		d := keys.DecodeAs(b, v)
		p := ui.ValuePage{Lines: d.Lines, Chain: strings.Join(d.Chain, " → "), Total: total, Shown: int64(len(b)), Truncated: truncated, Err: d.Err}
		if len(d.Classes) > 0 {
			p.Lines = append([]string{"# Python classes named (recorded, never run): " + strings.Join(d.Classes, ", ")}, p.Lines...)
		}
		return p, nil
	}
	pg, err := keys.Elements(ctx, reader, node, s.ledger, row.Key, row.Type, cursor, 200)
	if err != nil {
		return ui.ValuePage{}, s.explain(err)
	}
	p := ui.ValuePage{Next: pg.Next, Total: pg.Total}
	chains := map[string]bool{}
	one := func(b []byte) string {
		d := keys.DecodeAs(b, v)
		chains[strings.Join(d.Chain, " → ")] = true
		if len(d.Lines) == 1 {
			return d.Lines[0]
		}
		return strings.Join(d.Lines, " ")
	}
	for _, e := range pg.Items {
		var line string
		switch row.Type {
		case "hash":
			line = keys.Escape(string(e.Field)) + " = " + one(e.Value)
		case "list":
			line = fmt.Sprintf("[%d] %s", e.Index, one(e.Value))
		case "zset":
			line = fmt.Sprintf("%s  %s", strconv.FormatFloat(e.Score, 'g', -1, 64), one(e.Value))
		case "stream":
			line = e.ID + "  " + keys.Escape(string(e.Field)) + " = " + one(e.Value)
		default:
			line = one(e.Value)
		}
		p.Lines = append(p.Lines, line)
	}
	if len(chains) == 1 {
		for c := range chains {
			p.Chain = "elements: " + c
		}
	} else if len(chains) > 1 {
		p.Chain = "elements: mixed"
	}
	p.Shown = int64(len(pg.Items))
	return p, nil
}

func (s *keySource) SetTTL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	return s.write(ctx, key, func(ctx context.Context, w *keys.Writer) (keys.Result, error) { return w.SetTTL(ctx, key, ttl) })
}

func (s *keySource) Persist(ctx context.Context, key string) (string, error) {
	return s.write(ctx, key, func(ctx context.Context, w *keys.Writer) (keys.Result, error) { return w.Persist(ctx, key) })
}

func (s *keySource) Delete(ctx context.Context, key string) (string, error) {
	return s.write(ctx, key, func(ctx context.Context, w *keys.Writer) (keys.Result, error) { return w.Delete(ctx, key) })
}

// write runs one action on key and says what became of it, without the
// key name (the UI shows it escaped). On a cluster it goes to the master
// serving the key, and once more to the new one when the answer is MOVED
// or ASK (the write was not run).
func (s *keySource) write(ctx context.Context, key string, do func(context.Context, *keys.Writer) (keys.Result, error)) (string, error) {
	if err := s.open(ctx); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, s.target.Timeout)
	defer cancel()
	var r keys.Result
	var err error
	if s.cl != nil {
		r, err = s.clusterWrite(ctx, key, do)
	} else {
		r, err = do(ctx, s.writer)
	}
	switch {
	case errors.Is(err, keys.ErrOutcomeUnknown):
		return "", errors.New("no reply: the server may or may not have applied it (not retried)")
	case err != nil:
		return "", s.explain(err)
	}
	switch r.Outcome {
	case keys.Applied:
		switch r.Action {
		case "set TTL":
			return "TTL set to " + keys.FormatTTL(r.TTL), nil
		case "persist":
			return "expiry removed", nil
		}
		return "deleted", nil
	case keys.Vanished:
		return "", errors.New("key no longer exists")
	case keys.Unchanged:
		return "had no expiry", nil
	}
	return "", errors.New("not applied")
}

func (s *keySource) explain(err error) error {
	if err == nil {
		return nil
	}
	var re redis.Error
	if errors.As(err, &re) || errors.Is(err, keys.ErrNoKey) || errors.Is(err, keys.ErrTypeChanged) ||
		errors.Is(err, keys.ErrReadOnly) || errors.Is(err, keys.ErrDenied) {
		return err
	}
	return conn.Explain(err, s.target)
}

func (s *keySource) ParseTTL(v string) (time.Duration, error) { return keys.ParseTTL(v) }
func (s *keySource) Escape(v string) string                   { return keys.Escape(v) }
func (s *keySource) ValidatePattern(p string) error           { return keys.ValidatePattern(p) }

func (s *keySource) DetectPrefix(sample []string) string {
	if p, v, ok := keys.DetectDjangoPrefix(sample); ok {
		return p + ":" + v + ":"
	}
	return ""
}

// treeAdapter shows a keys.Tree to the browser. Node IDs are their glob
// patterns: a path of segments, stable while keys are added.
type treeAdapter struct {
	t   *keys.Tree
	ids map[string]*keys.Node
}

func (a *treeAdapter) Add(batch []ui.ScannedKey) {
	for _, k := range batch {
		a.t.Add(k.Key, keys.KeyMeta{Bytes: k.Bytes, HasTTL: k.HasTTL, TTLKnown: k.TTLKnown})
	}
}

func (a *treeAdapter) Children(id string, byMemory bool) []ui.TreeRow {
	n := a.t.Root()
	if id != "" {
		if n = a.ids[id]; n == nil {
			return nil
		}
	}
	order := keys.ByKeys
	if byMemory {
		order = keys.ByBytes
	}
	kids := n.Children(order)
	rows := make([]ui.TreeRow, 0, len(kids))
	d := a.t.Delimiter()
	for _, c := range kids {
		r := a.row(c)
		a.ids[r.ID] = c
		if len(c.Children(keys.ByLabel)) > 0 {
			r.HasChildren = true
			r.Label += keys.Escape(d)
		}
		rows = append(rows, r)
	}
	return rows
}

func (a *treeAdapter) row(n *keys.Node) ui.TreeRow {
	d := a.t.Delimiter()
	st := n.Total()
	label := keys.Escape(n.Label()) // a shape keeps real key text: escape it too
	return ui.TreeRow{
		ID: n.Pattern(d), Label: label, Pattern: n.SubtreePattern(d),
		Keys: st.Keys, Bytes: st.Bytes, WithTTL: st.WithTTL,
		Largest: keys.Escape(st.Largest), LargestBytes: st.LargestBytes,
		Leaf: st.Keys == n.Own().Keys && st.Keys == 1,
	}
}

func (a *treeAdapter) Total() ui.TreeRow { return a.row(a.t.Root()) }

// The key browser on a Redis Cluster. A scan walks the masters one after
// the other, in slot order, each with its own SCAN cursor: the browser's
// cursor carries the master's index in its top clusterNodeBits bits and
// that master's cursor in the others. It stays one number the browser
// hands back, so stale pages and resumes work as on one server, and the
// browser needs no state of ours. A master's cursor is below its hash
// table's size up to Redis 7.2; from 7.4 it is the table cursor shifted
// left by 14 bits, the slot in the low bits: 54 bits leave room for 2^40
// buckets per master. Masters scanned in turn rather than at once keep
// each step one round trip, as on one server; since keys spread over the
// masters by hash, the part of the tree scanned so far is a fair sample
// all the same.
const (
	clusterNodeBits  = 10
	clusterNodeShift = 64 - clusterNodeBits
	clusterCursorMax = 1<<clusterNodeShift - 1
)

// openCluster discovers the masters and probes them all.
func (s *keySource) openCluster(ctx context.Context) error {
	cl, err := keys.OpenCluster(ctx, s.probe, s.target, s.ledger)
	if err != nil {
		return conn.Explain(err, s.target)
	}
	if n := len(cl.Masters()); n >= 1<<clusterNodeBits {
		cl.Close()
		return fmt.Errorf("the cluster has %d masters: the key browser walks at most %d", n, 1<<clusterNodeBits-1)
	}
	caps, err := keys.ProbeCluster(ctx, cl)
	if err != nil {
		cl.Close()
		return conn.Explain(err, s.target)
	}
	if s.ro {
		caps.ReadOnly, caps.ReadOnlyReason = true, "--readonly"
	}
	s.caps = caps
	if caps.NoTouch {
		cl.SetReaderHook(func(addr string, o *redis.Options) { keys.EnableNoTouch(o, addr, s.ledger, nil) })
	}
	s.cl, s.writers = cl, map[string]*keys.Writer{}
	_, err = s.writerFor(cl.Masters()[0].Addr)
	return err
}

func (s *keySource) writerFor(addr string) (*keys.Writer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.writers[addr]; w != nil {
		return w, nil
	}
	w, err := keys.NewWriter(s.cl.Writer(addr), addr, s.ledger, s.caps)
	if err != nil {
		return nil, err
	}
	s.writers[addr] = w
	return w, nil
}

// clusterDBSize adds up the masters' DBSIZE.
func (s *keySource) clusterDBSize(ctx context.Context) (int64, error) {
	var total int64
	for _, m := range s.cl.Masters() {
		cctx, cancel := context.WithTimeout(ctx, s.target.Timeout)
		n, err := s.cl.Reader(m.Addr).DBSize(cctx).Result()
		cancel()
		if err != nil {
			return 0, s.clusterErr(ctx, m.Addr, err)
		}
		s.ledger.Call(m.Addr, "dbsize", 1)
		total += n
	}
	return total, nil
}

// clusterScanPage runs one step on the master the cursor names. When that
// master's scan ends, it checks the master still is one (ROLE): a master
// demoted by a failover answers SCAN as a replica, and may have dropped
// its keys for a resync, ending its cursor early.
func (s *keySource) clusterScanPage(ctx context.Context, cursor uint64, pattern, typ string, meta bool) (ui.ScanPage, error) {
	masters := s.cl.Masters()
	i := int(cursor >> clusterNodeShift)
	if i >= len(masters) {
		return ui.ScanPage{Done: true, Visited: 1}, nil
	}
	m := masters[i]
	st, err := keys.ScanStep(ctx, s.cl.Reader(m.Addr), m.Addr, s.ledger, cursor&clusterCursorMax,
		keys.ScanOptions{Match: pattern, Type: typ, Timeout: s.target.Timeout}, meta)
	if err != nil {
		return ui.ScanPage{}, s.clusterErr(ctx, m.Addr, err)
	}
	if st.Cursor > clusterCursorMax {
		return ui.ScanPage{}, fmt.Errorf("%s: SCAN cursor %d is too large for the browser's cluster cursor", m.Addr, st.Cursor)
	}
	visited := keys.Progress{Cursor: st.Cursor, Calls: int64(st.Calls)}.Fraction()
	next, done := uint64(i)<<clusterNodeShift|st.Cursor, false
	if st.Done {
		if err := s.cl.CheckMaster(ctx, m.Addr); err != nil {
			return ui.ScanPage{}, s.clusterErr(ctx, m.Addr, err)
		}
		visited = 1
		next = uint64(i+1) << clusterNodeShift
		if i+1 == len(masters) {
			next, done = 0, true
		}
	}
	return scanPage(st, meta, next, done, (float64(i)+visited)/float64(len(masters))), nil
}

// clusterErr explains an error from a master; when it says the master
// failed over, the cluster is discovered again, so a rescan (R) walks the
// new masters.
func (s *keySource) clusterErr(ctx context.Context, addr string, err error) error {
	if !keys.FailedOver(err) {
		return s.explain(fmt.Errorf("%s: %w", addr, err))
	}
	if rerr := s.cl.Refresh(ctx, addr); rerr != nil {
		return fmt.Errorf("%s failed over or is unreachable (%v), and the cluster could not be discovered again: %v", addr, err, rerr)
	}
	return fmt.Errorf("%s failed over or is unreachable (%v): the cluster was discovered again", addr, err)
}

// clusterInspect inspects each master's keys on it, the masters at once.
func (s *keySource) clusterInspect(ctx context.Context, names []string) ([]keys.KeyInfo, error) {
	by := map[string][]int{}
	for i, k := range names {
		a := s.cl.Owner(k)
		if a == "" {
			return nil, fmt.Errorf("no master serves the slot of %s", keys.Escape(k))
		}
		by[a] = append(by[a], i)
	}
	out := make([]keys.KeyInfo, len(names))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for addr, idx := range by {
		wg.Go(func() {
			group := make([]string, len(idx))
			for j, i := range idx {
				group[j] = names[i]
			}
			infos, err := keys.InspectWith(ctx, s.cl.Reader(addr), addr, s.ledger, group, s.caps.InspectOptions())
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = fmt.Errorf("%s: %w", addr, err)
				}
				return
			}
			for j, i := range idx {
				out[i] = infos[j]
			}
		})
	}
	wg.Wait()
	return out, first
}

// clusterWrite sends a write to the master serving key; answered MOVED or
// ASK (not run), it finds the new master and sends it there, once.
func (s *keySource) clusterWrite(ctx context.Context, key string, do func(context.Context, *keys.Writer) (keys.Result, error)) (keys.Result, error) {
	addr := s.cl.Owner(key)
	if addr == "" {
		return keys.Result{}, fmt.Errorf("no master serves the slot of %s", keys.Escape(key))
	}
	w, err := s.writerFor(addr)
	if err != nil {
		return keys.Result{}, err
	}
	r, err := do(ctx, w)
	if !keys.IsRedirect(err) {
		return r, err
	}
	if rerr := s.cl.Refresh(ctx, ""); rerr != nil {
		return r, err
	}
	if now := s.cl.Owner(key); now != "" && now != addr {
		if w, werr := s.writerFor(now); werr == nil {
			return do(ctx, w)
		}
	}
	return r, err
}
