package keys

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The journal of a bulk run is a file of JSON lines, written as the run
// goes so that it survives a run cut short. Format version 1:
//
//	{"type":"header","format":"redtop-journal","version":1,"time":…,"target":"unix:/run/redis.sock","db":0,"op":"delete","pattern":"key:*","ttl_ms":0,"backup":"/…/x.backup.jsonl"}
//	{"type":"batch","seq":1,"time":…,"result":"applied","keys":["key:1",…],"keys_b64":[…],"applied":498,"gone":2,"gone_keys":[…]}
//	…
//	{"type":"footer","time":…,"report":{…BulkReport…}}
//
// Key names: JSON strings must be valid UTF-8, and Redis keys are any
// bytes. A key that is valid UTF-8 is written as a JSON string in "keys"
// (with JSON's escapes: "\n", "\u001b"…); any other key is written in
// base64 (standard, padded) in "keys_b64", and likewise "gone_keys" /
// "gone_keys_b64", "unchanged_keys" / "unchanged_keys_b64". So every key
// is written exactly once, byte for byte, and a reader gets every key of a
// line as keys + base64-decode(keys_b64).
//
// One line covers keys of one batch that share a result:
//
//   - "applied": the batch was carried out. For expire and persist the
//     outcome is known per key: every key is applied except those in
//     gone_keys (gone before the command ran) and, for persist,
//     unchanged_keys (it had no TTL). For delete, one variadic UNLINK
//     answers only how many keys it removed ("applied"); "gone" counts the
//     others, which no longer existed. Either way no key of the line exists
//     once the line is written. With a backup, the batch's DUMPs and its
//     UNLINK ran as one transaction: every key but those in gone_keys (DUMP
//     found them gone) was saved to the backup, then deleted, with nothing
//     in between, and "applied" is UNLINK's count of them.
//   - "unknown": the batch was sent and no reply came (timeout, connection
//     cut, abort): the server may or may not have applied it. Never retried.
//     With a backup, such keys may be deleted and missing from the backup:
//     their values came in the reply that was lost.
//   - "not_attempted": the keys were scanned and matched but never sent
//     (the run stopped first). Keys the scan had not reached are in no line.
//   - "refused": the server answered with an error (NOPERM, READONLY…):
//     nothing was applied; "error" says what.
//
// Undo records (expire and persist): each key's PTTL is asked in the same
// round trip, just before its PEXPIRE or PERSIST, and the applied and
// unknown lines carry the answers in "prev_pttl_ms", one per key in the
// order a reader gets them (keys, then keys_b64): milliseconds left, -1 no
// TTL, -2 the key did not exist, -3 not recorded (PTTL failed or its reply
// never came); "prev_at_ms" is the client's clock (Unix ms) when the
// answers came. `redtop restore JOURNAL` reads them to undo the run: each
// key changed gets PEXPIRE prev_pttl_ms - (now - prev_at_ms) back, or
// PERSIST where it had no TTL, if it still has what the run left (the
// header's ttl_ms, less the time since; for persist, no TTL), unless
// --force. By hand, with jq:
//
//	jq -c 'select(.type=="batch" and .prev_pttl_ms) | [.keys, .prev_pttl_ms, .prev_at_ms]' JOURNAL
//
// (keys_b64 keys take the prev_pttl_ms values after those of keys).
//
// A restore (`redtop restore FILE`) writes a journal too: header op
// "restore", "file" the backup (or journal, with "undo" its op) restored
// from; one line per batch and outcome: "restored", "skipped_exists"
// (exists, no --replace), "skipped_expired" (its TTL ran out since),
// "skipped_gone" (undo: the key no longer exists), "skipped_changed" (undo:
// the key's TTL is no longer what the run left, so it was left alone),
// "failed" (the server
// refused it, "error" says why), "unknown", "not_attempted"; the footer's
// "report" is the RestoreReport.
//
// A run on a Redis Cluster adds "nodes" to the header (the masters at the
// start) and "node" to each batch line (the node the keys were sent to;
// keys re-sent after MOVED or ASK get a line of their own); journals
// without them read as before.
//
// A journal without a footer is from a run that redtop itself did not
// finish (killed): its last batch may be missing.
const journalVersion = 1

// JournalHeader opens a journal.
type JournalHeader struct {
	Type    string    `json:"type"` // "header"
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Time    time.Time `json:"time"`
	Target  string    `json:"target"` // never holds a password
	DB      int       `json:"db"`
	Op      Op        `json:"op"`
	Pattern string    `json:"pattern"`
	TTLms   int64     `json:"ttl_ms,omitempty"`
	Backup  string    `json:"backup,omitempty"`
	// File (op "restore"): the backup or journal restored from; Undo: the
	// op of that journal when it was an expire or persist run undone.
	File string `json:"file,omitempty"`
	Undo Op     `json:"undo,omitempty"`
	// Nodes: a run on a Redis Cluster names its masters at the start;
	// each batch line then names the node its keys were sent to.
	Nodes []string `json:"nodes,omitempty"`
}

// JournalBatch is one line for the keys of a batch that share a result.
type JournalBatch struct {
	Type        string    `json:"type"` // "batch"
	Seq         int       `json:"seq"`
	Time        time.Time `json:"time"`
	Result      string    `json:"result"` // applied, unknown, not_attempted, refused
	Keys        []string  `json:"keys,omitempty"`
	KeysB64     []string  `json:"keys_b64,omitempty"`
	Applied     int64     `json:"applied,omitempty"`
	Gone        int64     `json:"gone,omitempty"`
	Unchanged   int64     `json:"unchanged,omitempty"`
	GoneKeys    []string  `json:"gone_keys,omitempty"`
	GoneKeysB64 []string  `json:"gone_keys_b64,omitempty"`
	UnchKeys    []string  `json:"unchanged_keys,omitempty"`
	UnchKeysB64 []string  `json:"unchanged_keys_b64,omitempty"`
	Error       string    `json:"error,omitempty"`
	// PrevPTTL (expire and persist): each key's PTTL just before the
	// write, in the order a reader gets the keys (keys, then keys_b64);
	// PrevAtMs: the client's clock (Unix ms) when those answers came.
	PrevPTTL []int64 `json:"prev_pttl_ms,omitempty"`
	PrevAtMs int64   `json:"prev_at_ms,omitempty"`
	// Node (a cluster run): the node the keys were sent to.
	Node string `json:"node,omitempty"`
}

// Batch results, as the journal spells them.
const (
	ResultApplied      = "applied"
	ResultUnknown      = "unknown"
	ResultNotAttempted = "not_attempted"
	ResultRefused      = "refused"

	// Restore journals (op "restore").
	ResultRestored       = "restored"
	ResultSkippedExists  = "skipped_exists"
	ResultSkippedExpired = "skipped_expired"
	ResultSkippedGone    = "skipped_gone"
	ResultSkippedChanged = "skipped_changed"
	ResultFailed         = "failed"
)

// PTTL answers recorded in prev_pttl_ms, besides a number of milliseconds.
const (
	PrevNoTTL   = -1 // the key had no TTL
	PrevMissing = -2 // the key did not exist
	PrevUnknown = -3 // not recorded: PTTL failed or its reply never came
)

// JournalFooter closes a journal.
type JournalFooter struct {
	Type   string      `json:"type"` // "footer"
	Time   time.Time   `json:"time"`
	Report *BulkReport `json:"report"`
	// Restore is the report of a restore journal (op "restore"), read
	// from the same "report" field.
	Restore *RestoreReport `json:"-"`
}

// restoreFooter closes a restore journal.
type restoreFooter struct {
	Type   string         `json:"type"` // "footer"
	Time   time.Time      `json:"time"`
	Report *RestoreReport `json:"report"`
}

// splitUTF8 sorts keys into those JSON can carry as they are and the
// others, base64-encoded.
func splitUTF8(keys []string) (plain, b64 []string) {
	for _, k := range keys {
		if utf8.ValidString(k) {
			plain = append(plain, k)
		} else {
			b64 = append(b64, base64.StdEncoding.EncodeToString([]byte(k)))
		}
	}
	return plain, b64
}

// splitUTF8Prev is splitUTF8 that also reorders prev, one value per key,
// to match: plain keys first, then the base64 ones.
func splitUTF8Prev(keys []string, prev []int64) (plain, b64 []string, ordered []int64) {
	if prev == nil {
		plain, b64 = splitUTF8(keys)
		return plain, b64, nil
	}
	var pp, pb []int64
	for i, k := range keys {
		if utf8.ValidString(k) {
			plain = append(plain, k)
			pp = append(pp, prev[i])
		} else {
			b64 = append(b64, base64.StdEncoding.EncodeToString([]byte(k)))
			pb = append(pb, prev[i])
		}
	}
	return plain, b64, append(pp, pb...)
}

// joinUTF8 is the inverse of splitUTF8.
func joinUTF8(plain, b64 []string) ([]string, error) {
	out := append([]string(nil), plain...)
	for _, s := range b64 {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("bad base64 key %q: %v", s, err)
		}
		out = append(out, string(b))
	}
	return out, nil
}

// StateDir is where redtop keeps its journals and backups:
// $XDG_STATE_HOME/redtop, or ~/.local/state/redtop.
func StateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "redtop"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no state directory: set XDG_STATE_HOME or HOME: %v", err)
	}
	return filepath.Join(home, ".local", "state", "redtop"), nil
}

// journal writes a run's journal, one line flushed to the file per call.
// The masters' parts of a cluster run share it.
type journal struct {
	mu   sync.Mutex
	f    *os.File
	bw   *bufio.Writer
	enc  *json.Encoder
	path string
	err  error
}

// createFile makes dir (0700) and a new file in it named
// stem+suffix, adding -2, -3… to stem if the name is taken. The file is
// 0600: journals and backups hold key names and values.
func createFile(dir, stem, suffix string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	name := stem
	for i := 2; ; i++ {
		f, err := os.OpenFile(filepath.Join(dir, name+suffix), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil || !errors.Is(err, os.ErrExist) || i > 100 {
			return f, err
		}
		name = fmt.Sprintf("%s-%d", stem, i)
	}
}

// fileStem names a run's files: bulk-20250102T150405.123Z-delete.
func fileStem(t time.Time, op Op) string {
	return "bulk-" + strings.Replace(t.UTC().Format("20060102T150405.000Z"), ".", "", 1) + "-" + string(op)
}

func createJournal(dir, stem string) (*journal, error) {
	f, err := createFile(dir, stem, ".journal.jsonl")
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &journal{f: f, bw: bw, enc: enc, path: f.Name()}, nil
}

// write appends one line and hands it to the OS, so it survives redtop
// being killed right after.
func (j *journal) write(v any) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	if err := j.enc.Encode(v); err != nil {
		j.err = fmt.Errorf("journal %s: %w", j.path, err)
		return j.err
	}
	if err := j.bw.Flush(); err != nil {
		j.err = fmt.Errorf("journal %s: %w", j.path, err)
	}
	return j.err
}

// batch writes one batch line for keys with a result.
func (j *journal) batch(b JournalBatch, keys, gone, unchanged []string) error {
	return j.batchPrev(b, keys, gone, unchanged, nil)
}

// batchPrev is batch with each key's PTTL before the write (prev[i] for
// keys[i]); b.PrevAtMs must be set by the caller.
func (j *journal) batchPrev(b JournalBatch, keys, gone, unchanged []string, prev []int64) error {
	b.Type = "batch"
	b.Time = time.Now().UTC()
	b.Keys, b.KeysB64, b.PrevPTTL = splitUTF8Prev(keys, prev)
	b.GoneKeys, b.GoneKeysB64 = splitUTF8(gone)
	b.UnchKeys, b.UnchKeysB64 = splitUTF8(unchanged)
	return j.write(b)
}

// failed is the error that stopped the journal, if any.
func (j *journal) failed() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// close syncs the file to disk and closes it.
func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	err := j.bw.Flush()
	if serr := j.f.Sync(); err == nil {
		err = serr
	}
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// JournalKeys is what a journal says became of each key.
type JournalKeys struct {
	Header       JournalHeader
	Footer       *JournalFooter // nil: the run did not finish writing it
	Applied      []string       // changed by the run (for delete without per-key replies: removed, by the run or already gone)
	Gone         []string       // known to have gone before the command ran
	Unchanged    []string       // persist: had no TTL
	Unknown      []string
	NotAttempted []string
	Refused      []string
	// AppliedCount and GoneCount add up the counts of the applied lines.
	AppliedCount, GoneCount int64

	// Prev (expire and persist journals): the TTL each key had before the
	// run, for the keys the run changed or may have changed (applied and
	// unknown), in journal order.
	Prev []PrevTTL

	// Restore journals: what became of each key.
	Restored, SkippedExists, SkippedExpired, SkippedGone, SkippedChanged, Failed []string
}

// PrevTTL is a key's TTL before an expire or persist run changed it.
type PrevTTL struct {
	Key    string
	PTTLms int64 // PrevNoTTL, PrevMissing, PrevUnknown or milliseconds
	AtMs   int64 // client clock, Unix ms, when PTTL answered
	Result string
}

// ReadJournal reads a journal back.
func ReadJournal(r io.Reader) (*JournalKeys, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	out := &JournalKeys{}
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return out, err
		}
		var typ struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(line, &typ); err != nil {
			return out, fmt.Errorf("journal line %d: %v", n, err)
		}
		switch typ.Type {
		case "header":
			if err := json.Unmarshal(line, &out.Header); err != nil {
				return out, fmt.Errorf("journal line %d: %v", n, err)
			}
			if out.Header.Format != "redtop-journal" || out.Header.Version != journalVersion {
				return out, fmt.Errorf("not a redtop journal of version %d", journalVersion)
			}
		case "footer":
			out.Footer = &JournalFooter{}
			if out.Header.Op == OpRestore {
				var rf restoreFooter
				if err := json.Unmarshal(line, &rf); err != nil {
					return out, fmt.Errorf("journal line %d: %v", n, err)
				}
				out.Footer.Type, out.Footer.Time, out.Footer.Restore = rf.Type, rf.Time, rf.Report
				break
			}
			if err := json.Unmarshal(line, out.Footer); err != nil {
				return out, fmt.Errorf("journal line %d: %v", n, err)
			}
		case "batch":
			var b JournalBatch
			if err := json.Unmarshal(line, &b); err != nil {
				return out, fmt.Errorf("journal line %d: %v", n, err)
			}
			keys, err1 := joinUTF8(b.Keys, b.KeysB64)
			gone, err2 := joinUTF8(b.GoneKeys, b.GoneKeysB64)
			unch, err3 := joinUTF8(b.UnchKeys, b.UnchKeysB64)
			if err := errors.Join(err1, err2, err3); err != nil {
				return out, fmt.Errorf("journal line %d: %v", n, err)
			}
			if len(b.PrevPTTL) > 0 && len(b.PrevPTTL) != len(keys) {
				return out, fmt.Errorf("journal line %d: %d prev_pttl_ms for %d keys", n, len(b.PrevPTTL), len(keys))
			}
			if len(b.PrevPTTL) > 0 && (b.Result == ResultApplied || b.Result == ResultUnknown) {
				skip := map[string]bool{}
				for _, k := range gone {
					skip[k] = true
				}
				for _, k := range unch {
					skip[k] = true
				}
				for i, k := range keys {
					if !skip[k] {
						out.Prev = append(out.Prev, PrevTTL{Key: k, PTTLms: b.PrevPTTL[i], AtMs: b.PrevAtMs, Result: b.Result})
					}
				}
			}
			switch b.Result {
			case ResultRestored:
				out.Restored = append(out.Restored, keys...)
			case ResultSkippedExists:
				out.SkippedExists = append(out.SkippedExists, keys...)
			case ResultSkippedExpired:
				out.SkippedExpired = append(out.SkippedExpired, keys...)
			case ResultSkippedGone:
				out.SkippedGone = append(out.SkippedGone, keys...)
			case ResultSkippedChanged:
				out.SkippedChanged = append(out.SkippedChanged, keys...)
			case ResultFailed:
				out.Failed = append(out.Failed, keys...)
			case ResultApplied:
				skip := map[string]bool{}
				for _, k := range gone {
					skip[k] = true
				}
				for _, k := range unch {
					skip[k] = true
				}
				for _, k := range keys {
					if !skip[k] {
						out.Applied = append(out.Applied, k)
					}
				}
				out.Gone = append(out.Gone, gone...)
				out.Unchanged = append(out.Unchanged, unch...)
				out.AppliedCount += b.Applied
				out.GoneCount += b.Gone
			case ResultUnknown:
				out.Unknown = append(out.Unknown, keys...)
			case ResultNotAttempted:
				out.NotAttempted = append(out.NotAttempted, keys...)
			case ResultRefused:
				out.Refused = append(out.Refused, keys...)
			default:
				return out, fmt.Errorf("journal line %d: unknown result %q", n, b.Result)
			}
		default:
			return out, fmt.Errorf("journal line %d: unknown type %q", n, typ.Type)
		}
		if err == io.EOF {
			break
		}
	}
	return out, nil
}
