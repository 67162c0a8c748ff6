package keys

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"redtop/redisinfo"
)

// Bounds of what the value inspector reads at a time. A big key is never
// read whole: a string by its first StringMax bytes, the others a page of
// at most MaxPage elements per call.
const (
	StringMax   = 64 << 10
	DefaultPage = 128
	MaxPage     = 200
)

// ErrNoKey: the key vanished (deleted or expired) since it was listed.
var ErrNoKey = errors.New("key no longer exists")

// ErrTypeChanged: the key now holds another type than the caller expected
// (it was deleted and recreated): reopen it.
var ErrTypeChanged = errors.New("key changed type")

// Element is one item of a page.
type Element struct {
	Field []byte  // hash field; stream entry field
	Value []byte  // hash value, list element, set or zset member, stream value
	Score float64 // zset score
	ID    string  // stream entry ID (one Element per field of the entry)
	Index int64   // list index or zset rank; -1 for hash, set and stream
}

// Page is one page of a key's elements.
type Page struct {
	Items []Element
	// Next is the cursor for the following page: a SCAN cursor (hash,
	// set), an index (list, zset) or the last entry ID read (stream); ""
	// when this was the last page. A hash, set or stream may end on an
	// empty page: SCAN cannot tell sooner, and a full page of stream
	// entries may have been the last.
	Next string
	// Total is the key's element count (HLEN, LLEN, SCARD, ZCARD, XLEN)
	// when the page was read.
	Total int64
}

// ReadString reads at most max bytes of a string value (StringMax when max
// ≤ 0) with GETRANGE, never the whole of a big value: total is its length
// (STRLEN) and truncated tells whether val is only its start. One pipelined
// round trip: TYPE, STRLEN, GETRANGE, each a keyspace lookup, booked.
// GETRANGE resets the key's idle time unless the connection is NO-TOUCH.
func ReadString(ctx context.Context, c redis.Cmdable, node string, ledger *redisinfo.Ledger, key string, max int64) (val []byte, total int64, truncated bool, err error) {
	if max <= 0 {
		max = StringMax
	}
	pipe := c.Pipeline()
	typ := pipe.Type(ctx, key)
	strlen := pipe.StrLen(ctx, key)
	getrange := pipe.GetRange(ctx, key, 0, max-1)
	_, _ = pipe.Exec(ctx)

	t, terr := typ.Result()
	bookLookup(ledger, node, "type", terr, t != "none")
	// TYPE just before tells whether STRLEN and GETRANGE found the key:
	// both answer an empty value for a missing one.
	found := terr == nil && t != "none"
	total, lerr := strlen.Result()
	bookLookup(ledger, node, "strlen", lerr, found)
	val, gerr := getrange.Bytes()
	bookLookup(ledger, node, "getrange", gerr, found)

	if err := checkType(terr, t, "string"); err != nil {
		return nil, 0, false, err
	}
	if err := firstError(lerr, gerr); err != nil {
		return nil, 0, false, err
	}
	return val, total, total > int64(len(val)), nil
}

// Elements reads one page of a hash, list, set, zset or stream, starting
// at cursor ("" for the first page), with count elements (DefaultPage when
// ≤ 0, at most MaxPage):
//
//	hash   HSCAN key cursor COUNT n         (n is a hint: a small listpack
//	set    SSCAN key cursor COUNT n          hash or set comes whole)
//	list   LRANGE key i i+n-1
//	zset   ZRANGE key i i+n-1 WITHSCORES    (by rank)
//	stream XRANGE key <after cursor> + COUNT n
//
// One pipelined round trip of TYPE, the length command and the read, each
// booked as the lookup it is. No call reads more than a page, so opening a
// key of millions of elements costs three small commands. The element
// values themselves are whole: a single huge hash value or list element is
// read as it is. These reads reset the key's idle time unless the
// connection is NO-TOUCH.
func Elements(ctx context.Context, c redis.Cmdable, node string, ledger *redisinfo.Ledger, key, typ, cursor string, count int) (Page, error) {
	if count <= 0 {
		count = DefaultPage
	}
	if count > MaxPage {
		count = MaxPage
	}
	n := int64(count)
	var (
		scanCur uint64
		offset  int64
		start   string
		err     error
	)
	switch typ {
	case "hash", "set":
		if cursor != "" {
			if scanCur, err = strconv.ParseUint(cursor, 10, 64); err != nil {
				return Page{}, fmt.Errorf("bad %s cursor %q", typ, cursor)
			}
		}
	case "list", "zset":
		if cursor != "" {
			if offset, err = strconv.ParseInt(cursor, 10, 64); err != nil || offset < 0 || offset > math.MaxInt64-n {
				return Page{}, fmt.Errorf("bad %s offset %q", typ, cursor)
			}
		}
	case "stream":
		start = "-"
		if cursor != "" {
			if start, err = nextStreamID(cursor); err != nil {
				return Page{}, err
			}
		}
	case "string":
		return Page{}, errors.New("a string has no elements: use ReadString")
	default:
		return Page{}, fmt.Errorf("cannot page through a %s", typ)
	}

	lenName, readName := lengthCommand[typ], map[string]string{
		"hash": "hscan", "set": "sscan", "list": "lrange", "zset": "zrange", "stream": "xrange",
	}[typ]
	pipe := c.Pipeline()
	typeCmd := pipe.Type(ctx, key)
	var lenCmd *redis.IntCmd
	var read redis.Cmder
	switch typ {
	case "hash":
		lenCmd = pipe.HLen(ctx, key)
		read = pipe.HScan(ctx, key, scanCur, "", n)
	case "set":
		lenCmd = pipe.SCard(ctx, key)
		read = pipe.SScan(ctx, key, scanCur, "", n)
	case "list":
		lenCmd = pipe.LLen(ctx, key)
		read = pipe.LRange(ctx, key, offset, offset+n-1)
	case "zset":
		lenCmd = pipe.ZCard(ctx, key)
		read = pipe.ZRangeWithScores(ctx, key, offset, offset+n-1)
	case "stream":
		lenCmd = pipe.XLen(ctx, key)
		// Raw, not XRangeN: its map would lose the order of the fields.
		read = pipe.Do(ctx, "xrange", key, start, "+", "count", n)
	}
	_, _ = pipe.Exec(ctx)

	t, terr := typeCmd.Result()
	bookLookup(ledger, node, "type", terr, t != "none")
	found := terr == nil && t != "none" // the next two ran just after TYPE
	total, lerr := lenCmd.Result()
	bookLookup(ledger, node, lenName, lerr, found)
	rerr := read.Err()
	bookLookup(ledger, node, readName, rerr, found)

	if err := checkType(terr, t, typ); err != nil {
		return Page{}, err
	}
	if err := firstError(lerr, rerr); err != nil {
		return Page{}, err
	}

	p := Page{Total: total}
	switch cmd := read.(type) {
	case *redis.ScanCmd:
		items, next := cmd.Val()
		if typ == "hash" {
			p.Items = make([]Element, 0, len(items)/2)
			for i := 0; i+1 < len(items); i += 2 {
				p.Items = append(p.Items, Element{Field: []byte(items[i]), Value: []byte(items[i+1]), Index: -1})
			}
		} else {
			p.Items = make([]Element, 0, len(items))
			for _, m := range items {
				p.Items = append(p.Items, Element{Value: []byte(m), Index: -1})
			}
		}
		if next != 0 {
			p.Next = strconv.FormatUint(next, 10)
		}
	case *redis.StringSliceCmd:
		vals := cmd.Val()
		p.Items = make([]Element, len(vals))
		for i, v := range vals {
			p.Items[i] = Element{Value: []byte(v), Index: offset + int64(i)}
		}
		p.Next = nextOffset(offset, len(vals), n, total)
	case *redis.ZSliceCmd:
		zs := cmd.Val()
		p.Items = make([]Element, len(zs))
		for i, z := range zs {
			m, _ := z.Member.(string)
			p.Items[i] = Element{Value: []byte(m), Score: z.Score, Index: offset + int64(i)}
		}
		p.Next = nextOffset(offset, len(zs), n, total)
	case *redis.Cmd:
		items, last, entries, err := parseXRange(cmd.Val())
		if err != nil {
			return Page{}, err
		}
		p.Items = items
		if int64(entries) == n {
			p.Next = last
		}
	}
	return p, nil
}

// nextOffset is the cursor after a page of got items read from offset.
func nextOffset(offset int64, got int, n, total int64) string {
	next := offset + int64(got)
	if int64(got) < n || next >= total {
		return ""
	}
	return strconv.FormatInt(next, 10)
}

// parseXRange turns an XRANGE reply (entries of [id, [field, value, …]])
// into one Element per field, keeping the fields' order.
func parseXRange(v any) (items []Element, last string, entries int, err error) {
	list, ok := v.([]any)
	if !ok {
		return nil, "", 0, fmt.Errorf("unexpected XRANGE reply %T", v)
	}
	for _, e := range list {
		entry, ok := e.([]any)
		if !ok || len(entry) != 2 {
			return nil, "", 0, fmt.Errorf("unexpected XRANGE entry %v", e)
		}
		id, _ := entry[0].(string)
		fields, _ := entry[1].([]any)
		for i := 0; i+1 < len(fields); i += 2 {
			f, _ := fields[i].(string)
			val, _ := fields[i+1].(string)
			items = append(items, Element{ID: id, Field: []byte(f), Value: []byte(val), Index: -1})
		}
		last = id
		entries++
	}
	return items, last, entries, nil
}

// nextStreamID is the smallest entry ID after id ("ms-seq"): an exclusive
// start that also works before Redis 6.2's "(id" syntax.
func nextStreamID(id string) (string, error) {
	msPart, seqPart, ok := strings.Cut(id, "-")
	ms, err1 := strconv.ParseUint(msPart, 10, 64)
	seq, err2 := strconv.ParseUint(seqPart, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return "", fmt.Errorf("bad stream cursor %q: want an entry ID like 1700000000000-0", id)
	}
	if seq < math.MaxUint64 {
		return fmt.Sprintf("%d-%d", ms, seq+1), nil
	}
	if ms == math.MaxUint64 {
		return "", fmt.Errorf("stream cursor %q is the last possible ID", id)
	}
	return fmt.Sprintf("%d-0", ms+1), nil
}

// checkType turns TYPE's reply into ErrNoKey or ErrTypeChanged.
func checkType(err error, got, want string) error {
	switch {
	case err != nil:
		return err
	case got == "none":
		return ErrNoKey
	case got != want:
		return fmt.Errorf("%w: it is now a %s, not a %s", ErrTypeChanged, got, want)
	}
	return nil
}

// firstError is the first error that is not redis.Nil.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}
