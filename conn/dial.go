package conn

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

// keepAlive is go-redis's own default.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 3}

// handshakeError marks a failure after the TCP connection was made, during
// the TLS handshake.
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return "TLS handshake: " + e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// tlsDialer replaces go-redis's TLS dialer, which uses tls.DialWithDialer:
// that one ignores the context, so cancelling (quitting redtop) cannot stop
// a handshake, and its errors do not say that the handshake is where things
// stopped. A plain-text server never answers a ClientHello (it waits for a
// newline), so "the handshake timed out" is the sign of a port without TLS.
func tlsDialer(cfg *tls.Config, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{Timeout: timeout, KeepAliveConfig: keepAlive}
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := cfg
		if c.ServerName == "" && !c.InsecureSkipVerify {
			// What tls.DialWithDialer does: check the name that was dialled.
			c = cfg.Clone()
			if host, _, err := net.SplitHostPort(addr); err == nil {
				c.ServerName = host
			} else {
				c.ServerName = addr
			}
		}
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		tc := tls.Client(raw, c)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, &handshakeError{err: err}
		}
		return tc, nil
	}
}
