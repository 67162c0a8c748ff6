package ui

import (
	"context"
	"time"
)

// KeySource is what the key browser needs from Redis. main adapts keys/ to
// it; tests hand the browser a fake.
type KeySource interface {
	// NewTree returns an empty prefix tree splitting on delim.
	NewTree(delim string) KeyTree
	// DBSize is the number of keys in the database: the scan's total.
	DBSize(ctx context.Context) (int64, error)
	// ScanPage runs SCAN from cursor (MATCH pattern, TYPE typ when set) for
	// about one batch of keys; with meta it also fetches each key's memory
	// and whether it has a TTL, in one pipelined round trip.
	ScanPage(ctx context.Context, cursor uint64, pattern, typ string, meta bool) (ScanPage, error)
	// Inspect fetches the row columns of keys in one round trip.
	Inspect(ctx context.Context, keys []string) ([]KeyRow, error)
	// Value reads one page of a key's value, decoded for view.
	Value(ctx context.Context, row KeyRow, view ValueView, cursor string) (ValuePage, error)
	// SetTTL, Persist and Delete change one key and say what happened.
	SetTTL(ctx context.Context, key string, ttl time.Duration) (string, error)
	Persist(ctx context.Context, key string) (string, error)
	Delete(ctx context.Context, key string) (string, error)
	// ParseTTL reads a human duration ("90s", "10m", "2h", "14d").
	ParseTTL(s string) (time.Duration, error)
	// Caps probes what the server and the user allow, once.
	Caps(ctx context.Context) (KeyCaps, error)
	// DetectPrefix finds a django-redis "prefix:version:" in sample keys.
	DetectPrefix(sample []string) string
	// Escape renders a key name or value safely for the terminal.
	Escape(s string) string
	// ValidatePattern rejects patterns SCAN MATCH cannot mean.
	ValidatePattern(p string) error
}

// KeyTree aggregates scanned keys by prefix, in bounded memory.
type KeyTree interface {
	Add(batch []ScannedKey)
	// Children lists the rows under id ("" for the top), sorted.
	Children(id string, byMemory bool) []TreeRow
	// Total is the row of everything added.
	Total() TreeRow
}

// TreeRow is one prefix node.
type TreeRow struct {
	ID           string // identity for Children and expansion
	Label        string // the segment as shown, escaped
	Pattern      string // glob matching exactly this node's keys
	Keys         int64
	Bytes        int64
	WithTTL      int64
	Largest      string // escaped
	LargestBytes int64
	HasChildren  bool
	Leaf         bool // a whole key, not a prefix
}

// ScanPage is one step of a scan.
type ScanPage struct {
	Keys    []ScannedKey
	Cursor  uint64 // next cursor; 0 with Done
	Done    bool
	Scanned int64   // keys SCAN returned in this step (before client-side filters)
	Visited float64 // share of the keyspace the scan has visited, 0..1, from the cursor
}

// ScannedKey is a key with what the scan learned about it.
type ScannedKey struct {
	Key      string
	Bytes    int64 // MEMORY USAGE; 0 when unknown
	HasTTL   bool
	TTLKnown bool // false when the key was gone before it was measured
}

// KeyRow is the columns of one key.
type KeyRow struct {
	Key      string
	Exists   bool
	Type     string
	TTL      time.Duration // -1 without expiry
	Bytes    int64
	Idle     time.Duration // when !LFU
	Freq     int64         // when LFU
	LFU      bool
	Encoding string
	Len      int64
}

// ValueView is how a value is shown.
type ValueView int

// Views, cycled with v.
const (
	ViewAuto ValueView = iota
	ViewText
	ViewHex
	ViewJSON
	ViewPickle
	ViewMsgpack
)

var viewNames = [...]string{"auto", "text", "hex", "json", "pickle", "msgpack"}

func (v ValueView) String() string { return viewNames[v] }

// ValuePage is one page of a value, rendered.
type ValuePage struct {
	Lines     []string // escaped, ready to draw
	Chain     string   // how it was decoded, e.g. "zlib → pickle"
	Next      string   // cursor of the next page; "" at the end
	Total     int64    // elements or bytes in the whole value
	Shown     int64    // elements or bytes read so far, this page included
	Truncated bool     // a string longer than what was read
	Err       string   // a forced view that failed
}

// KeyCaps is what the browser may do.
type KeyCaps struct {
	ReadOnly       bool
	ReadOnlyReason string
	LFU            bool // OBJECT FREQ instead of IDLETIME
	NoTouch        bool // reads do not reset idle times
}

// Browser messages, all stamped with the generation that asked.
type (
	dbSizeMsg struct {
		gen int
		n   int64
		err error
	}
	scanPageMsg struct {
		gen  int
		page ScanPage
		err  error
	}
	capsMsg struct {
		caps KeyCaps
		err  error
	}
	listPageMsg struct {
		gen  int
		page ScanPage
		rows []KeyRow
		err  error
	}
	valueMsg struct {
		gen  int
		page ValuePage
		err  error
	}
	actionMsg struct {
		key    string
		what   string // "ttl", "persist", "delete"
		result string
		row    *KeyRow // the row after the action, when re-read
		err    error
	}
)

// BulkSource runs bulk operations by pattern; a KeySource that can also
// implements it, and the browser then offers delete, expire and persist by
// pattern.
type BulkSource interface {
	// StartPreview counts, without changing anything, what an operation
	// on pattern would touch.
	StartPreview(ctx context.Context, pattern string) (BulkJob, error)
	// StartBulk runs an operation.
	StartBulk(ctx context.Context, req BulkRequest) (BulkJob, error)
}

// BulkRequest is one bulk operation.
type BulkRequest struct {
	Op      string // "delete", "expire", "persist"
	Pattern string
	TTL     time.Duration // expire
	Backup  bool          // delete: DUMP each key before UNLINK
	Rate    float64       // keys/s, 0 for no cap
	Auto    bool          // slow down while the server's latency rises
}

// BulkJob is a running preview or operation. Its methods may be called
// from commands, on other goroutines.
type BulkJob interface {
	Status() BulkStatus
	Stop()  // after the batches in flight
	Abort() // now: the batches in flight end "unknown"
}

// BulkStatus is a job's latest progress, and its outcome once done.
type BulkStatus struct {
	Done       bool
	Fraction   float64 // share of the keyspace visited
	Scanned    int64
	Matched    int64
	Applied    int64
	Gone       int64
	Unknown    int64
	KeysPerSec float64
	Elapsed    time.Duration
	ETA        time.Duration
	Delay      time.Duration // pause pacing puts between batches now
	Preview    *BulkPreview  // a finished preview
	Report     []string      // a finished run, in lines (escaped)
	Failed     bool          // something ended unknown, refused or not attempted
	Err        string
}

// BulkPreview is what an operation would touch.
type BulkPreview struct {
	Pattern       string
	Matched       int64
	Estimate      bool // counted on a sample
	DBSize        int64
	Share         float64
	Samples       []string // escaped
	EstBytes      int64    // -1 unknown
	TTLNone       int64
	TTLHour       int64
	TTLDay        int64
	TTLLonger     int64
	Everything    bool
	OverHalf      bool
	BackupDefault bool
	Warnings      []string
}
