package keys

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
	"redtop/redisinfo"
)

// rawConn is a plain RESP2 connection for the measuring pipeline. Through
// go-redis each MEMORY USAGE and PTTL is a command object of some 250
// bytes: two million of them for a million keys, which doubled the
// client's CPU and, on a host it shares with the server, slowed the
// server too. Here a batch is one byte buffer out and integers parsed in
// place. It talks to the same address with the same credentials, database
// and name as the client it is made from.
type rawConn struct {
	nc  net.Conn
	br  *bufio.Reader
	buf []byte

	handshake
}

// handshake is what a raw connection sent before its first command, for
// the ledger: commands as INFO commandstats names them, and bytes each way.
type handshake struct {
	hello             []string
	helloIn, helloOut int
}

// book records the handshake in l (may be nil) under node.
func (h *handshake) book(l *redisinfo.Ledger, node string) {
	if l == nil {
		return
	}
	for _, cmd := range h.hello {
		l.Call(node, cmd, 1)
	}
	l.Bytes(node, int64(h.helloIn), int64(h.helloOut))
}

// errNoRaw: the client is set up in a way rawConn does not reproduce.
var errNoRaw = errors.New("no raw connection for these options")

func dialRaw(ctx context.Context, c *redis.Client, timeout time.Duration) (*rawConn, error) {
	o := c.Options()
	if o.Dialer == nil || !conn.OnlyBooks(o) || o.CredentialsProvider != nil ||
		o.CredentialsProviderContext != nil || o.StreamingCredentialsProvider != nil {
		return nil, errNoRaw
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nc, err := o.Dialer(dctx, o.Network, o.Addr)
	if err != nil {
		return nil, err
	}
	r := &rawConn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}
	switch {
	case o.Password != "" && o.Username != "":
		r.buf = conn.AppendCommand(r.buf, "AUTH", o.Username, o.Password)
		r.hello = append(r.hello, "auth")
	case o.Password != "":
		r.buf = conn.AppendCommand(r.buf, "AUTH", o.Password)
		r.hello = append(r.hello, "auth")
	}
	if o.DB != 0 {
		r.buf = conn.AppendCommand(r.buf, "SELECT", strconv.Itoa(o.DB))
		r.hello = append(r.hello, "select")
	}
	if o.ClientName != "" {
		r.buf = conn.AppendCommand(r.buf, "CLIENT", "SETNAME", o.ClientName)
		r.hello = append(r.hello, "client|setname")
	}
	r.helloIn = len(r.buf)
	nc.SetDeadline(time.Now().Add(timeout))
	if _, err := nc.Write(r.buf); err != nil {
		nc.Close()
		return nil, err
	}
	for range r.hello {
		line, err := r.line()
		r.helloOut += len(line) + 2
		if err == nil && (len(line) == 0 || line[0] != '+') {
			err = replyError(string(line[min(1, len(line)):]))
		}
		if err != nil {
			nc.Close()
			return nil, err
		}
	}
	return r, nil
}

func (r *rawConn) Close() error { return r.nc.Close() }

// line reads one reply line without its CRLF.
func (r *rawConn) line() ([]byte, error) {
	b, err := r.br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(b) < 2 || b[len(b)-2] != '\r' {
		return nil, fmt.Errorf("bad reply line %q", b)
	}
	return b[:len(b)-2], nil
}

// reply reads an integer reply: ok is false for a nil, err is set for an
// error reply (as a redis.Error) or a broken connection.
func (r *rawConn) reply() (n int64, size int, ok bool, err error) {
	line, err := r.line()
	if err != nil {
		return 0, 0, false, err
	}
	size = len(line) + 2
	if len(line) == 0 {
		return 0, size, false, errors.New("empty reply line")
	}
	switch line[0] {
	case ':':
		n, err = strconv.ParseInt(string(line[1:]), 10, 64)
		return n, size, err == nil, err
	case '$', '*':
		if string(line[1:]) == "-1" {
			return 0, size, false, nil
		}
		return 0, size, false, fmt.Errorf("unexpected reply %q", line)
	case '-':
		return 0, size, false, replyError(string(line[1:]))
	}
	return 0, size, false, fmt.Errorf("unexpected reply %q", line)
}

// rawResult is what one batch brought back, per key.
type rawResult struct {
	mem    []int64 // -1: nil (the key is gone)
	ttl    []int64 // PTTL's reply: -2 gone, -1 no expiry, else ms
	memErr error   // the first error reply to MEMORY USAGE
	ttlErr error
	in     int // bytes sent
	out    int // bytes received
}

// measure sends MEMORY USAGE key and PTTL key for every key in one write
// and reads the replies: one round trip. MEMORY USAGE samples 5 elements
// of an aggregate by default (OBJ_COMPUTE_SIZE_DEF_SAMPLES, unchanged
// since Redis 4.0): spelling out SAMPLES 5 would cost the server two more
// arguments to parse per key, measured at 5-10% of its CPU here.
func (r *rawConn) measure(ctx context.Context, timeout time.Duration, keys []string, wantMem, wantTTL bool) (rawResult, error) {
	res := rawResult{}
	r.buf = r.buf[:0]
	for _, k := range keys {
		if wantMem {
			r.buf = conn.AppendCommand(r.buf, "MEMORY", "USAGE", k)
		}
		if wantTTL {
			r.buf = conn.AppendCommand(r.buf, "PTTL", k)
		}
	}
	res.in = len(r.buf)
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	r.nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { r.nc.SetDeadline(time.Now()) })
	defer stop()

	if _, err := r.nc.Write(r.buf); err != nil {
		return res, r.fail(ctx, err)
	}
	if wantMem {
		res.mem = make([]int64, len(keys))
	}
	if wantTTL {
		res.ttl = make([]int64, len(keys))
	}
	for i := range keys {
		if wantMem {
			n, size, ok, err := r.reply()
			res.out += size
			var re redis.Error
			switch {
			case errors.As(err, &re):
				res.memErr = cmp0(res.memErr, err)
				res.mem[i] = 0
			case err != nil:
				return res, r.fail(ctx, err)
			case !ok:
				res.mem[i] = -1
			default:
				res.mem[i] = n
			}
		}
		if wantTTL {
			n, size, _, err := r.reply()
			res.out += size
			var re redis.Error
			switch {
			case errors.As(err, &re):
				res.ttlErr = cmp0(res.ttlErr, err)
			case err != nil:
				return res, r.fail(ctx, err)
			default:
				res.ttl[i] = n
			}
		}
	}
	return res, nil
}

// fail reports a broken connection, as the context's error when that is
// what broke it.
func (r *rawConn) fail(ctx context.Context, err error) error {
	r.nc.Close()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func cmp0(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// replyError is an error reply ("-NOPERM …"); like go-redis's own, it
// is a redis.Error, so conn.Explain and isNoPerm read it.
type replyError string

func (e replyError) Error() string { return string(e) }

// RedisError marks replyError as a redis.Error.
func (replyError) RedisError() {}
