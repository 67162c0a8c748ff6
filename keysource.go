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

// keySource adapts keys/ to the browser's ui.KeySource for one node. Its
// clients open on first use: a dashboard that never opens the key browser
// never probes, never opens them.
type keySource struct {
	target conn.Target
	node   string
	ledger *redisinfo.Ledger
	probe  *redis.Client // the app's reading client, for the probe only
	ro     bool          // --readonly

	once   sync.Once
	err    error
	caps   keys.Caps
	reader *redis.Client // NO-TOUCH when the server allows
	writer *keys.Writer
	wc     *redis.Client
}

func newKeySource(app *App, o browseOptions) *keySource {
	return &keySource{target: app.Target, node: app.Target.Addr, ledger: app.Ledger, probe: app.Client, ro: o.readOnly}
}

// open probes the server once and opens the reader and writer clients.
func (s *keySource) open(ctx context.Context) error {
	s.once.Do(func() {
		pctx, cancel := context.WithTimeout(ctx, 2*s.target.Timeout)
		defer cancel()
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
	st, err := keys.ScanStep(ctx, s.reader, s.node, s.ledger, cursor, keys.ScanOptions{Match: pattern, Type: typ, Timeout: s.target.Timeout}, meta)
	if err != nil {
		return ui.ScanPage{}, s.explain(err)
	}
	p := ui.ScanPage{Cursor: st.Cursor, Done: st.Done, Scanned: int64(len(st.Keys)), Keys: make([]ui.ScannedKey, 0, len(st.Keys)),
		Visited: keys.Progress{Cursor: st.Cursor, Calls: int64(st.Calls)}.Fraction()}
	for i, k := range st.Keys {
		sk := ui.ScannedKey{Key: k}
		if meta && i < len(st.Meta) {
			sk.Bytes, sk.HasTTL, sk.TTLKnown = st.Meta[i].Bytes, st.Meta[i].HasTTL, st.Meta[i].TTLKnown
		}
		p.Keys = append(p.Keys, sk)
	}
	return p, nil
}

func (s *keySource) Inspect(ctx context.Context, names []string) ([]ui.KeyRow, error) {
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.target.Timeout)
	defer cancel()
	infos, err := keys.InspectWith(ctx, s.reader, s.node, s.ledger, names, s.caps.InspectOptions())
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
	v := keys.View(view)
	if row.Type == "string" {
		b, total, truncated, err := keys.ReadString(ctx, s.reader, s.node, s.ledger, row.Key, 0)
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
	pg, err := keys.Elements(ctx, s.reader, s.node, s.ledger, row.Key, row.Type, cursor, 200)
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
	return s.write(ctx, func(ctx context.Context) (keys.Result, error) { return s.writer.SetTTL(ctx, key, ttl) })
}

func (s *keySource) Persist(ctx context.Context, key string) (string, error) {
	return s.write(ctx, func(ctx context.Context) (keys.Result, error) { return s.writer.Persist(ctx, key) })
}

func (s *keySource) Delete(ctx context.Context, key string) (string, error) {
	return s.write(ctx, func(ctx context.Context) (keys.Result, error) { return s.writer.Delete(ctx, key) })
}

// write runs one action and says what became of it, without the key name
// (the UI shows it escaped).
func (s *keySource) write(ctx context.Context, do func(context.Context) (keys.Result, error)) (string, error) {
	if err := s.open(ctx); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, s.target.Timeout)
	defer cancel()
	r, err := do(ctx)
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
