package redisinfo

import (
	"cmp"
	"slices"
	"time"
)

// HotKeysLabel is how hot keys must be presented: counts of the lines
// MONITOR delivered (and redtop kept), not of every access to the key.
const HotKeysLabel = "MONITOR sample counts"

// MonitorTopOptions bound a MonitorTop. Zero values take the defaults.
type MonitorTopOptions struct {
	// Buckets is how many one-second buckets are kept: the longest window
	// Snapshot can show (default 10).
	Buckets int
	// MaxEntries caps the distinct names tracked per table (commands,
	// patterns, clients, keys; default 10,000). Past it the least counted
	// tenth is evicted; its counts are reported as Evicted.
	MaxEntries int
	// TopN is how many rows of each table Snapshot returns (default 20).
	TopN int
	// Delimiter separates key segments for the patterns (default ":").
	Delimiter string
	// IncludeOwn counts lines marked Own (redtop's own connections) like
	// the others; by default they only count in TopView.OwnLines.
	IncludeOwn bool
	// Clock is the local clock (default time.Now), read at each Add to
	// relate the server's timestamps to Snapshot's now.
	Clock func() time.Time
}

// MonitorTop aggregates MONITOR lines for a "top" view: per-second rates
// over a sliding window of one-second buckets, and totals since the start,
// by command, by key pattern, by client and by key. Memory is bounded
// whatever the traffic. Lines are bucketed by their server timestamp. It is
// not safe for concurrent use: feed and read it from one goroutine.
type MonitorTop struct {
	opt     MonitorTopOptions
	slotSec []int64 // the second each bucket holds
	dims    [4]*monitorTopDim
	lines   int64
	own     int64
	perSlot []int64 // lines per bucket
	first   int64   // second of the first line
	newest  time.Time
	offset  time.Duration // local clock minus server clock, at the last Add
	started bool
}

// The tables.
const (
	topDimCommands = iota
	topDimPatterns
	topDimClients
	topDimKeys
)

// NewMonitorTop returns an empty aggregate.
func NewMonitorTop(opt MonitorTopOptions) *MonitorTop {
	if opt.Buckets <= 0 {
		opt.Buckets = 10
	}
	if opt.MaxEntries <= 0 {
		opt.MaxEntries = 10000
	}
	if opt.TopN <= 0 {
		opt.TopN = 20
	}
	if opt.Delimiter == "" {
		opt.Delimiter = ":"
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	t := &MonitorTop{opt: opt, slotSec: make([]int64, opt.Buckets), perSlot: make([]int64, opt.Buckets)}
	for i := range t.slotSec {
		t.slotSec[i] = -1
	}
	for i := range t.dims {
		t.dims[i] = &monitorTopDim{m: map[string]*monitorTopEntry{}, max: opt.MaxEntries, buckets: opt.Buckets}
	}
	return t
}

// Add counts lines.
func (t *MonitorTop) Add(lines []MonitorLine) {
	if len(lines) == 0 {
		return
	}
	for i := range lines {
		l := &lines[i]
		if l.Own && !t.opt.IncludeOwn {
			t.own++
			continue
		}
		sec := l.Time.Unix()
		if !t.started {
			t.started, t.first = true, sec
		}
		if l.Time.After(t.newest) {
			t.newest = l.Time
		}
		slot := t.slot(sec)
		t.lines++
		if slot >= 0 {
			t.perSlot[slot]++
		}
		t.dims[topDimCommands].add(l.Cmd, slot)
		t.dims[topDimClients].add(l.Client, slot)
		if key, ok := l.Key(); ok {
			t.dims[topDimKeys].addBytes(key, slot)
			t.dims[topDimPatterns].add(KeyPattern(string(key), t.opt.Delimiter), slot)
		}
	}
	if !t.newest.IsZero() {
		t.offset = t.opt.Clock().Sub(t.newest)
	}
}

// slot returns the bucket for a second, opening it (and clearing what it
// held) when the second is newer; -1 for a second older than the ring.
func (t *MonitorTop) slot(sec int64) int {
	i := int(sec % int64(len(t.slotSec)))
	if i < 0 {
		i += len(t.slotSec)
	}
	switch held := t.slotSec[i]; {
	case held == sec:
		return i
	case held > sec:
		return -1
	}
	t.slotSec[i] = sec
	t.perSlot[i] = 0
	for _, d := range t.dims {
		d.clearSlot(i)
	}
	return i
}

// TopView is a snapshot of a MonitorTop.
type TopView struct {
	At time.Time
	// Window is the span the rates cover: the window asked for, shorter
	// while the session is younger, or the whole session when Snapshot
	// was asked for totals (window <= 0).
	Window time.Duration
	Lines  int64   // lines counted since the start
	Count  int64   // lines in the window
	Rate   float64 // lines per second over the window
	// OwnLines are lines from redtop's own connections, left out.
	OwnLines int64
	Commands TopList
	Patterns TopList // first key of each command, ids and random parts folded to *
	Clients  TopList
	HotKeys  TopList // labelled HotKeysLabel
}

// TopList is one table, most counted first.
type TopList struct {
	Rows     []TopEntry
	Distinct int   // names tracked now
	Evicted  int64 // counts of names evicted to bound memory
}

// TopEntry is one row. Names are raw (key names may hold any byte):
// escape them before printing.
type TopEntry struct {
	Name  string
	Count int64   // lines in the window (or since the start, for totals)
	Total int64   // lines since the start (or since it was last evicted)
	Rate  float64 // per second over the window
	Share float64 // of the window's lines, 0..1
}

// Snapshot returns the rates over the last window (whole seconds, at most
// Buckets-1, ending with the last complete second before now) or, when
// window <= 0, the totals since the first line with rates averaged over
// that span. now is the local clock: the server's timestamps are related
// to it by the offset seen at the last Add.
func (t *MonitorTop) Snapshot(now time.Time, window time.Duration) TopView {
	v := TopView{At: now, Lines: t.lines, OwnLines: t.own}
	if !t.started {
		return v
	}
	srvNow := now.Add(-t.offset)
	var secs []int // buckets in the window; nil: totals
	var span float64
	if window > 0 {
		w := min(int((window+time.Second-1)/time.Second), len(t.slotSec)-1)
		end := srvNow.Unix() // the second in progress is not counted
		from := max(end-int64(w), t.first)
		for s := from; s < end; s++ {
			i := int(s % int64(len(t.slotSec)))
			if t.slotSec[i] == s {
				secs = append(secs, i)
			}
		}
		span = float64(max(end-from, 1))
		v.Window = time.Duration(span) * time.Second
		for _, i := range secs {
			v.Count += t.perSlot[i]
		}
		if secs == nil {
			secs = []int{} // a window with no complete second yet
		}
	} else {
		d := srvNow.Sub(time.Unix(t.first, 0))
		span = max(d.Seconds(), 1)
		v.Window = time.Duration(span * float64(time.Second))
		v.Count = t.lines
	}
	v.Rate = float64(v.Count) / span
	lists := []*TopList{&v.Commands, &v.Patterns, &v.Clients, &v.HotKeys}
	for i, d := range t.dims {
		*lists[i] = d.top(secs, span, v.Count, t.opt.TopN)
	}
	return v
}

// monitorTopDim is one table: counts per name, per bucket and in total.
type monitorTopDim struct {
	m       map[string]*monitorTopEntry
	max     int
	buckets int
	evicted int64
}

type monitorTopEntry struct {
	total int64
	slots []int32
}

func (d *monitorTopDim) entry(name string) *monitorTopEntry {
	if len(d.m) >= d.max {
		d.evict()
	}
	e := &monitorTopEntry{slots: make([]int32, d.buckets)}
	d.m[name] = e
	return e
}

func (d *monitorTopDim) add(name string, slot int) {
	e := d.m[name]
	if e == nil {
		e = d.entry(name)
	}
	e.count(slot)
}

// addBytes is add without a string allocation for a name already there.
func (d *monitorTopDim) addBytes(name []byte, slot int) {
	e := d.m[string(name)]
	if e == nil {
		e = d.entry(string(name))
	}
	e.count(slot)
}

func (e *monitorTopEntry) count(slot int) {
	e.total++
	if slot >= 0 && e.slots[slot] < 1<<31-1 {
		e.slots[slot]++
	}
}

func (d *monitorTopDim) clearSlot(i int) {
	for _, e := range d.m {
		e.slots[i] = 0
	}
}

// evict drops the least counted tenth of the names (by total): one sort
// per MaxEntries/10 new names.
func (d *monitorTopDim) evict() {
	totals := make([]int64, 0, len(d.m))
	for _, e := range d.m {
		totals = append(totals, e.total)
	}
	slices.Sort(totals)
	cut := totals[max(len(totals)/10, 1)-1]
	n := len(totals) / 10
	for name, e := range d.m {
		if n <= 0 {
			break
		}
		if e.total <= cut {
			d.evicted += e.total
			delete(d.m, name)
			n--
		}
	}
}

// top ranks the table over the buckets secs (nil: by totals).
func (d *monitorTopDim) top(secs []int, span float64, lines int64, n int) TopList {
	l := TopList{Distinct: len(d.m), Evicted: d.evicted}
	rows := make([]TopEntry, 0, len(d.m))
	for name, e := range d.m {
		c := e.total
		if secs != nil {
			c = 0
			for _, i := range secs {
				c += int64(e.slots[i])
			}
			if c == 0 {
				continue
			}
		}
		rows = append(rows, TopEntry{Name: name, Count: c, Total: e.total})
	}
	slices.SortFunc(rows, func(a, b TopEntry) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Total, a.Total); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	if len(rows) > n {
		rows = rows[:n]
	}
	for i := range rows {
		rows[i].Rate = float64(rows[i].Count) / span
		if lines > 0 {
			rows[i].Share = float64(rows[i].Count) / float64(lines)
		}
	}
	l.Rows = rows
	return l
}
