package keys

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/redisinfo"
)

// wconn is the one connection a bulk run or a restore writes through: a
// plain RESP2 socket dialed with the writer client's options (address,
// TLS, credentials, database, name). It sends each batch as one write and
// never sends anything twice, so a batch whose reply did not come is
// "unknown" and stays unknown. Going around go-redis also lets a run be
// aborted at once (abort closes the socket, whatever read is waiting) and
// know exactly which commands of a batch were written whole: a command
// the server did not receive whole is never executed.
type wconn struct {
	nc      net.Conn
	br      *bufio.Reader
	buf     []byte
	ends    []int // end offset in buf of each command of the batch being built
	timeout time.Duration

	handshake // for the ledger

	mu      sync.Mutex
	aborted bool
}

// errNoWriterConn: the writer client is set up in a way wconn cannot
// reproduce (an OnConnect hook, a credentials provider).
var errNoWriterConn = errors.New("the writer client uses an OnConnect hook or a credentials provider, which bulk writes cannot reproduce")

// errAborted is the transport error of a batch cut by Abort.
var errAborted = errors.New("aborted")

// checkWriter refuses a writer client that would retry: a write that timed
// out would be sent again and could run twice.
func checkWriter(c *redis.Client) error {
	// go-redis turns MaxRetries -1 (off) into 0 when the client is made.
	if c.Options().MaxRetries != 0 {
		return fmt.Errorf("writer client retries %d times: build it with conn.Target.WriterOptions (retries off)", c.Options().MaxRetries)
	}
	return nil
}

func dialWriter(ctx context.Context, c *redis.Client, timeout time.Duration) (*wconn, error) {
	o := c.Options()
	if o.Dialer == nil || !conn.OnlyBooks(o) || o.CredentialsProvider != nil ||
		o.CredentialsProviderContext != nil || o.StreamingCredentialsProvider != nil {
		return nil, errNoWriterConn
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nc, err := o.Dialer(dctx, o.Network, o.Addr)
	if err != nil {
		return nil, err
	}
	w := &wconn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), timeout: timeout}
	switch {
	case o.Password != "" && o.Username != "":
		w.add("AUTH", o.Username, o.Password)
		w.hello = append(w.hello, "auth")
	case o.Password != "":
		w.add("AUTH", o.Password)
		w.hello = append(w.hello, "auth")
	}
	if o.DB != 0 {
		w.add("SELECT", strconv.Itoa(o.DB))
		w.hello = append(w.hello, "select")
	}
	if o.ClientName != "" {
		w.add("CLIENT", "SETNAME", o.ClientName)
		w.hello = append(w.hello, "client|setname")
	}
	if len(w.hello) == 0 {
		return w, nil
	}
	w.helloIn = len(w.buf)
	err = w.exchange(func(i int, r reply) error {
		w.helloOut += r.size
		return r.err
	})
	if err != nil {
		nc.Close()
		var be *batchError
		if errors.As(err, &be) {
			err = be.Err
		}
		return nil, err
	}
	return w, nil
}

// canMulti sends MULTI then DISCARD, once, before a delete with backup:
// it runs each batch as one transaction, and where MULTI is refused (an
// ACL without +multi) the commands queued would run one by one instead.
// refused is MULTI's (or DISCARD's) error reply, err a transport failure.
func (w *wconn) canMulti(ledger *redisinfo.Ledger, node string) (refused, err error) {
	w.add("MULTI")
	w.add("DISCARD")
	in, out := len(w.buf), 0
	names := []string{"multi", "discard"}
	err = w.exchange(func(i int, r reply) error {
		out += r.size
		if r.err != nil {
			bookRan(ledger, node, names[i], r.err)
			refused = firstErr(refused, r.err)
		} else {
			ledger.Call(node, names[i], 1)
		}
		return nil
	})
	ledger.Bytes(node, int64(in), int64(out))
	var be *batchError
	if errors.As(err, &be) {
		err = be.Err
	}
	return refused, err
}

// Close closes the socket.
func (w *wconn) Close() error { return w.nc.Close() }

// watch closes the socket as soon as abort is closed, interrupting any
// write or read in flight. The returned function stops watching.
func (w *wconn) watch(abort <-chan struct{}) (stop func()) {
	if abort == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-abort:
			w.mu.Lock()
			w.aborted = true
			w.mu.Unlock()
			w.nc.SetDeadline(time.Now())
			w.nc.Close()
		case <-done:
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (w *wconn) isAborted() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.aborted
}

// add appends one command to the batch being built.
func (w *wconn) add(args ...string) {
	w.buf = conn.AppendCommand(w.buf, args...)
	w.ends = append(w.ends, len(w.buf))
}

// addVariadic appends `name k1 k2 …` without building an argument slice.
func (w *wconn) addVariadic(name string, keys []string) {
	b := append(w.buf, '*')
	b = strconv.AppendInt(b, int64(len(keys)+1), 10)
	b = append(b, '\r', '\n')
	b = conn.AppendBulk(b, name)
	for _, k := range keys {
		b = conn.AppendBulk(b, k)
	}
	w.buf = b
	w.ends = append(w.ends, len(w.buf))
}

// pending is the number of commands in the batch being built.
func (w *wconn) pending() int { return len(w.ends) }

// reset empties the batch being built.
func (w *wconn) reset() {
	w.buf = w.buf[:0]
	w.ends = w.ends[:0]
}

// reply is one reply as the server sent it.
type reply struct {
	kind  byte    // ':' integer, '$' bulk, '+' status, '-' error, '*' array
	n     int64   // integer value; for '$' and '*' the length (-1: nil)
	b     []byte  // bulk payload (copied) or status text
	err   error   // error reply, as a redis.Error
	elems []reply // '*': the elements (EXEC's replies, a script's result)
	size  int     // bytes on the wire
}

// batchError is a transport failure in the middle of a batch.
type batchError struct {
	Written int   // commands the server received whole: they may have run
	Read    int   // of those, commands whose reply was read
	Err     error // the transport error (or errAborted)
}

func (e *batchError) Error() string { return e.Err.Error() }
func (e *batchError) Unwrap() error { return e.Err }

// exchange writes the batch built with add in one write and reads one
// reply per command, handing each to fn in order. An error from fn stops
// reading (the connection is then out of step and is closed). A transport
// failure is a *batchError telling how far the batch went. The batch is
// reset in every case.
func (w *wconn) exchange(fn func(i int, r reply) error) error {
	s, err := w.send()
	if err != nil {
		return err
	}
	return w.recv(s, fn)
}

// sent is a batch written and not read yet.
type sent struct {
	ncmd int // commands
	in   int // bytes
}

// send writes the batch built with add in one write and resets it. A
// failed write closes the connection and is a *batchError telling how many
// commands the server received whole. Replies are read with recv, batch
// after batch in the order they were sent: a second batch may be sent
// before the first one's replies are read, so the server always has work.
func (w *wconn) send() (sent, error) {
	s := sent{ncmd: len(w.ends), in: len(w.buf)}
	defer w.reset()
	if s.ncmd == 0 {
		return s, nil
	}
	w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
	n, err := w.nc.Write(w.buf)
	if err != nil {
		written := 0
		for written < s.ncmd && w.ends[written] <= n {
			written++
		}
		return s, w.fail(written, 0, err)
	}
	return s, nil
}

// recv reads the replies of a batch that send wrote.
func (w *wconn) recv(s sent, fn func(i int, r reply) error) error {
	w.nc.SetReadDeadline(time.Now().Add(w.timeout))
	for i := 0; i < s.ncmd; i++ {
		r, err := w.readReply()
		if err != nil {
			return w.fail(s.ncmd, i, err)
		}
		if err := fn(i, r); err != nil {
			w.nc.Close()
			return err
		}
	}
	return nil
}

func (w *wconn) fail(written, read int, err error) error {
	w.nc.Close()
	if w.isAborted() {
		err = errAborted
	}
	return &batchError{Written: written, Read: read, Err: err}
}

func (w *wconn) line() ([]byte, error) {
	b, err := w.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("reply line too long")
		}
		return nil, err
	}
	if len(b) < 2 || b[len(b)-2] != '\r' {
		return nil, fmt.Errorf("bad reply line %q", b)
	}
	return b[:len(b)-2], nil
}

// readReply reads one reply; an array's elements come in elems.
func (w *wconn) readReply() (reply, error) {
	line, err := w.line()
	if err != nil {
		return reply{}, err
	}
	r := reply{size: len(line) + 2}
	if len(line) == 0 {
		return r, errors.New("empty reply line")
	}
	r.kind = line[0]
	switch r.kind {
	case '+':
		r.b = append([]byte(nil), line[1:]...)
	case '-':
		r.err = bulkReplyError(string(line[1:]))
	case ':':
		r.n, err = strconv.ParseInt(string(line[1:]), 10, 64)
		if err != nil {
			return r, fmt.Errorf("bad integer reply %q", line)
		}
	case '$':
		r.n, err = strconv.ParseInt(string(line[1:]), 10, 64)
		if err != nil || r.n < -1 || r.n > 1<<32 {
			return r, fmt.Errorf("bad bulk length %q", line)
		}
		if r.n >= 0 {
			r.b = make([]byte, r.n+2)
			if _, err := io.ReadFull(w.br, r.b); err != nil {
				return r, err
			}
			r.size += len(r.b)
			r.b = r.b[:r.n]
		}
	case '*':
		r.n, err = strconv.ParseInt(string(line[1:]), 10, 64)
		if err != nil {
			return r, fmt.Errorf("bad array length %q", line)
		}
		if r.n > 0 {
			r.elems = make([]reply, 0, min(r.n, 1<<16))
		}
		for i := int64(0); i < r.n; i++ {
			sub, err := w.readReply()
			if err != nil {
				return r, err
			}
			r.size += sub.size
			r.elems = append(r.elems, sub)
		}
	default:
		return r, fmt.Errorf("unexpected reply %q", line)
	}
	return r, nil
}

// bulkReplyError is an error reply; like go-redis's own it is a
// redis.Error, so isServerReply, isRejected and conn.Explain read it.
type bulkReplyError string

func (e bulkReplyError) Error() string { return string(e) }

// RedisError marks bulkReplyError as a redis.Error.
func (bulkReplyError) RedisError() {}
