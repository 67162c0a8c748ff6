package redisinfo

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"redtop/conn"
)

// monitorReply is an error reply read on the raw MONITOR connection. Like
// go-redis's own it is a redis.Error, so conn.Explain reads it as the
// server's words (WRONGPASS, NOAUTH…).
type monitorReply string

func (e monitorReply) Error() string { return string(e) }

// RedisError marks monitorReply as a redis.Error.
func (monitorReply) RedisError() {}

// monitorKeepAlive is go-redis's (and conn's) TCP keep-alive: a MONITOR
// connection can stay silent for long on an idle server, and this is what
// notices a peer that vanished.
var monitorKeepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 3}

// monitorConn is the session's own connection, after the handshake.
type monitorConn struct {
	c   net.Conn      // what is read: the TLS connection or the raw one
	raw net.Conn      // the socket under it: closing it stops any read at once
	br  *bufio.Reader // holds what followed MONITOR's +OK
	id  int64         // CLIENT ID, 0 when the server refused it
	// idErr says why id is unknown.
	idErr string
}

// dialMonitor connects, authenticates, names the connection, asks its id
// and sends MONITOR, in one round trip, within t.Timeout. The commands are
// booked in the ledger as the server counts them.
func dialMonitor(ctx context.Context, t conn.Target, opt MonitorOptions) (*monitorConn, error) {
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var c, raw net.Conn
	var err error
	if t.TLS != nil {
		// conn's TLS dialer: honours ctx, says when the handshake failed.
		o := t.Options()
		c, err = o.Dialer(ctx, t.Network, t.Addr)
		if tc, ok := c.(*tls.Conn); ok {
			raw = tc.NetConn()
		}
	} else {
		d := net.Dialer{Timeout: timeout, KeepAliveConfig: monitorKeepAlive}
		c, err = d.DialContext(ctx, t.Network, t.Addr)
		raw = c
	}
	if err != nil {
		return nil, conn.Explain(err, t)
	}
	if raw == nil {
		raw = c
	}
	// Cancelling ctx (or its deadline) interrupts a read or write at once.
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	type step struct {
		name string // as commandstats names it
		args []string
	}
	var steps []step
	switch {
	case t.User != "" && t.Password != "":
		steps = append(steps, step{"auth", []string{"AUTH", t.User, t.Password}})
	case t.Password != "":
		steps = append(steps, step{"auth", []string{"AUTH", t.Password}})
	}
	steps = append(steps,
		step{"client|setname", []string{"CLIENT", "SETNAME", opt.Name}},
		step{"client|id", []string{"CLIENT", "ID"}},
		step{"monitor", []string{"MONITOR"}},
	)
	var req []byte
	for _, s := range steps {
		req = conn.AppendCommand(req, s.args...)
	}
	if _, err := c.Write(req); err != nil {
		raw.Close()
		return nil, conn.Explain(monitorCtxErr(ctx, err), t)
	}

	mc := &monitorConn{c: c, raw: raw, br: bufio.NewReaderSize(c, 1<<20)}
	node := opt.Node
	for _, s := range steps {
		line, err := mc.br.ReadSlice('\n')
		if err != nil {
			raw.Close()
			return nil, conn.Explain(monitorCtxErr(ctx, err), t)
		}
		in, out := int64(respLen(s.args)), int64(len(line))
		opt.Ledger.Bytes(node, in, out)
		reply := string(monitorTrimCRLF(line))
		if len(reply) > 0 && reply[0] == '-' {
			rerr := monitorReply(reply[1:])
			if !isRejected(rerr) {
				opt.Ledger.Call(node, s.name, 1) // ran and failed
			}
			switch s.name {
			case "auth":
				raw.Close()
				return nil, conn.Explain(rerr, t)
			case "monitor":
				raw.Close()
				if fe := refusal(FeatureMonitor, rerr); fe != nil {
					return nil, fmt.Errorf("MONITOR refused at %s: %w", t, fe)
				}
				return nil, conn.Explain(rerr, t)
			case "client|id":
				mc.idErr = "CLIENT ID refused: " + reply[1:]
				if fe := refusal(Feature("client|id"), rerr); fe != nil {
					mc.idErr = fe.Why
				}
			}
			continue // a name or id refused: MONITOR works without
		}
		opt.Ledger.Call(node, s.name, 1)
		if s.name == "client|id" {
			if len(reply) > 1 && reply[0] == ':' {
				mc.id, _ = strconv.ParseInt(reply[1:], 10, 64)
			}
			if mc.id <= 0 {
				mc.idErr = fmt.Sprintf("unexpected CLIENT ID reply %q", reply)
			}
		}
	}
	stop()
	c.SetDeadline(time.Time{}) // the stream has no deadline: an idle server sends nothing
	return mc, nil
}

// monitorCtxErr prefers the context's reason over the I/O error it caused.
func monitorCtxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return ctx.Err()
		}
	}
	return err
}

func monitorTrimCRLF(b []byte) []byte {
	if n := len(b); n >= 2 && b[n-2] == '\r' && b[n-1] == '\n' {
		return b[:n-2]
	}
	if n := len(b); n >= 1 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}
