package keys

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// A backup is what a delete with backup saved before each UNLINK: a file
// of JSON lines, format version 1. The first line is a header:
//
//	{"format":"redtop-backup","version":1,"created":"2025-01-02T15:04:05.123Z","target":"unix:/run/redis.sock","db":0,"pattern":"key:*","redis_version":"7.0.15"}
//
// ("cluster":true when the keys came from the masters of a Redis Cluster),
// then one line per key, in the order they were saved:
//
//	{"key":"a2V5OjE=","pttl_ms":-1,"dump":"AAN2YWwKAA…","at_ms":1735830245123}
//
// key is the name and dump the DUMP payload, both in standard padded
// base64 (names and payloads are any bytes); pttl_ms is PTTL's answer
// right after the DUMP (-1: no expiry), at_ms the client's clock (Unix
// milliseconds) when that answer came. Restore gives each key the TTL it
// had left: pttl_ms minus the time since at_ms, on the same client clock,
// so the server's clock does not matter. A DUMP payload carries the RDB
// version and a checksum: a server older than the one that made it
// refuses it (Restore counts such keys as failed).
//
// Base64 in JSON costs a third more than the raw bytes plus ~50 bytes a
// key; the file is one line per key so it streams both ways, and any JSON
// tool can read it.
const backupVersion = 1

// BackupHeader is the first line of a backup file.
type BackupHeader struct {
	Format       string    `json:"format"` // "redtop-backup"
	Version      int       `json:"version"`
	Created      time.Time `json:"created"`
	Target       string    `json:"target"`
	DB           int       `json:"db"`
	Pattern      string    `json:"pattern"`
	RedisVersion string    `json:"redis_version,omitempty"`
	// Cluster: the keys came from the masters of a Redis Cluster.
	Cluster bool `json:"cluster,omitempty"`
}

// BackupEntry is one saved key.
type BackupEntry struct {
	Key    []byte `json:"key"`     // base64 in the file
	PTTLms int64  `json:"pttl_ms"` // -1: no expiry
	Dump   []byte `json:"dump"`    // base64 in the file
	AtMs   int64  `json:"at_ms"`
}

// backupWriter writes a backup; the masters' parts of a cluster run
// share it.
type backupWriter struct {
	mu    sync.Mutex
	f     *os.File
	bw    *bufio.Writer
	path  string
	bytes int64
	keys  int64
	line  []byte
}

func createBackup(path string, h BackupHeader) (*backupWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return newBackupWriter(f, h)
}

func newBackupWriter(f *os.File, h BackupHeader) (*backupWriter, error) {
	h.Format, h.Version = "redtop-backup", backupVersion
	b := &backupWriter{f: f, bw: bufio.NewWriterSize(f, 256<<10), path: f.Name()}
	head, err := json.Marshal(h)
	if err != nil {
		f.Close()
		return nil, err
	}
	b.bw.Write(head)
	b.bw.WriteByte('\n')
	b.bytes = int64(len(head) + 1)
	if err := b.flush(); err != nil {
		f.Close()
		return nil, err
	}
	return b, nil
}

// add buffers one key's line; flush writes the buffered lines to the file.
func (b *backupWriter) add(key string, pttl int64, dump []byte, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := append(b.line[:0], `{"key":"`...)
	l = base64.StdEncoding.AppendEncode(l, []byte(key))
	l = append(l, `","pttl_ms":`...)
	l = strconv.AppendInt(l, pttl, 10)
	l = append(l, `,"dump":"`...)
	l = base64.StdEncoding.AppendEncode(l, dump)
	l = append(l, `","at_ms":`...)
	l = strconv.AppendInt(l, at.UnixMilli(), 10)
	l = append(l, "}\n"...)
	b.bw.Write(l)
	b.bytes += int64(len(l))
	b.keys++
	b.line = l
}

// flush hands what add buffered to the OS: once it returns nil, the lines
// survive redtop being killed (not a power cut: close syncs).
func (b *backupWriter) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.bw.Flush(); err != nil {
		return fmt.Errorf("backup %s: %w", b.path, err)
	}
	return nil
}

// counts are the keys and bytes written so far.
func (b *backupWriter) counts() (keys, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.keys, b.bytes
}

func (b *backupWriter) close() error {
	err := b.flush()
	if serr := b.f.Sync(); err == nil && serr != nil {
		err = fmt.Errorf("backup %s: %w", b.path, serr)
	}
	if cerr := b.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("backup %s: %w", b.path, cerr)
	}
	return err
}

// BackupReader reads a backup file back.
type BackupReader struct {
	Header BackupHeader
	br     *bufio.Reader
	line   int
}

// NewBackupReader reads and checks the header.
func NewBackupReader(r io.Reader) (*BackupReader, error) {
	br := &BackupReader{br: bufio.NewReaderSize(r, 256<<10)}
	line, err := br.next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty file: not a redtop backup")
		}
		return nil, err
	}
	if err := json.Unmarshal(line, &br.Header); err != nil || br.Header.Format != "redtop-backup" {
		return nil, errors.New("not a redtop backup (no redtop-backup header line)")
	}
	if br.Header.Version != backupVersion {
		return nil, fmt.Errorf("backup format version %d: this redtop reads version %d", br.Header.Version, backupVersion)
	}
	return br, nil
}

func (r *BackupReader) next() ([]byte, error) {
	for {
		line, err := r.br.ReadBytes('\n')
		r.line++
		if len(line) > 0 && (err == nil || errors.Is(err, io.EOF)) {
			if len(line) == 1 && line[0] == '\n' {
				continue
			}
			return line, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Next returns the next key, or io.EOF after the last one.
func (r *BackupReader) Next() (BackupEntry, error) {
	var e BackupEntry
	line, err := r.next()
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(line, &e); err != nil {
		return e, fmt.Errorf("backup line %d: %v", r.line, err)
	}
	if e.Dump == nil {
		return e, fmt.Errorf("backup line %d: no dump", r.line)
	}
	return e, nil
}

// FileKind reads the first line of a file and says what redtop wrote it
// as: "redtop-backup" (a delete's backup) or "redtop-journal" (a run's
// journal).
func FileKind(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 64<<10).ReadSlice('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", fmt.Errorf("%s: not a redtop backup or journal (first line too long)", path)
		}
		return "", err
	}
	var h struct {
		Format string `json:"format"`
	}
	if json.Unmarshal(line, &h) != nil || (h.Format != "redtop-backup" && h.Format != "redtop-journal") {
		return "", fmt.Errorf("%s: not a redtop backup (no redtop-backup header line) nor a redtop journal", path)
	}
	return h.Format, nil
}

// CountBackup counts the keys in a backup file (its lines after the
// header), without decoding them.
func CountBackup(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := NewBackupReader(f); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	// NewBackupReader buffered past the header: count from the top.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	br := bufio.NewReaderSize(f, 256<<10)
	var n int64
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 1 || (len(line) == 1 && line[0] != '\n') {
			n++
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				break
			}
			return 0, err
		}
		for errors.Is(err, bufio.ErrBufferFull) { // a long line: read through
			_, err = br.ReadSlice('\n')
		}
	}
	return n - 1, nil
}
