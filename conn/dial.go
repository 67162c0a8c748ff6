package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// keepAlive is go-redis's own default.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 3}

// handshakeError marks a failure after the TCP connection was made, during
// the TLS handshake (or, in TLS 1.3, the server's verdict on it).
type handshakeError struct {
	err error
	// certMissing: the server asked for a client certificate and redtop
	// sent none.
	certMissing bool
}

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
		// Note whether the server asks for a client certificate, and
		// whether one was sent: then its refusal can say which is wrong.
		var asked, sent bool
		if c.GetClientCertificate == nil {
			if c == cfg {
				c = cfg.Clone()
			}
			certs := c.Certificates
			c.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
				asked = true
				// What crypto/tls does without the callback: the first
				// certificate the server would accept, or none.
				for i := range certs {
					if cri.SupportsCertificate(&certs[i]) == nil {
						sent = true
						return &certs[i], nil
					}
				}
				return &tls.Certificate{}, nil
			}
		}
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		tc := tls.Client(raw, c)
		start := time.Now()
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, &handshakeError{err: err, certMissing: asked && !sent}
		}
		if asked && tc.ConnectionState().Version >= tls.VersionTLS13 {
			if err := awaitVerdict(ctx, tc, time.Since(start)); err != nil {
				raw.Close()
				return nil, &handshakeError{err: err, certMissing: !sent}
			}
		}
		return tc, nil
	}
}

// errUnexpectedData: the server spoke before being asked anything.
var errUnexpectedData = errors.New("the server sent data before any command")

// awaitVerdict waits for a TLS 1.3 server's verdict on the client
// certificate it asked for (sent or not). In TLS 1.3 the client's
// handshake is over before the server has checked that certificate: a
// server that refuses it, or its absence (tls-auth-clients yes), sends an
// alert that would otherwise arrive as the reply to the first command, or
// be lost to a connection reset when that command reaches the closed
// socket, leaving only "connection closed". The verdict comes within about
// one round trip, which the handshake (one round trip in TLS 1.3)
// measured: each new connection to a server that asks for client
// certificates (tls-auth-clients yes or optional) waits twice that, at
// least 20ms. Session tickets the server sends meanwhile are read by
// crypto/tls; a read that times out leaves the connection whole.
func awaitVerdict(ctx context.Context, tc *tls.Conn, handshake time.Duration) error {
	wait := max(2*handshake, 20*time.Millisecond)
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	tc.SetReadDeadline(deadline)
	var b [1]byte
	n, err := tc.Read(b[:])
	tc.SetReadDeadline(time.Time{})
	var ne net.Error
	switch {
	case n > 0:
		return errUnexpectedData
	case errors.As(err, &ne) && ne.Timeout():
		return nil // no alert: the server took the connection
	}
	return err
}
