package conn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Explain turns a connection or command failure into one line an operator
// can act on. It never includes the password: go-redis errors do not carry
// it, and nothing here adds it.
func Explain(err error, t Target) error {
	if err == nil {
		return nil
	}
	where := t.String()
	msg := err.Error()
	// go-redis wraps the server's reply to a failed handshake ("failed to
	// authenticate: WRONGPASS …", "failed to initialize connection options:
	// NOAUTH …"): match on the server's own words, not on the wrapper.
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg = rerr.Error()
	}
	var (
		dnsErr     *net.DNSError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		recordErr  tls.RecordHeaderError
		certVerErr *tls.CertificateVerificationError
		handshake  *handshakeError
	)
	switch {
	case strings.HasPrefix(msg, "WRONGPASS"):
		user := t.User
		if user == "" {
			user = "default"
		}
		return fmt.Errorf("authentication failed at %s for user %q: wrong password, or the user is disabled", where, user)
	case strings.HasPrefix(msg, "NOAUTH"):
		return fmt.Errorf("%s requires a password: give it with --askpass, REDISCLI_AUTH or -a", where)
	case strings.Contains(msg, "without any password configured"):
		return fmt.Errorf("%s has no password set, but one was given: drop -a/--askpass/REDISCLI_AUTH", where)
	case strings.HasPrefix(msg, "NOPERM"):
		return fmt.Errorf("permission denied at %s: %s", where, msg)
	case strings.Contains(msg, "SELECT is not allowed in cluster mode"):
		return fmt.Errorf("%s is a Redis Cluster: it has only database 0 (drop -n %d)", where, t.DB)
	case strings.Contains(msg, "DB index is out of range"):
		return fmt.Errorf("%s has no database %d (see its 'databases' setting)", where, t.DB)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("unknown host %q: %v", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &certVerErr):
		return fmt.Errorf("TLS certificate of %s rejected: %v", where, certVerErr.Err)
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalidErr):
		return fmt.Errorf("TLS certificate of %s rejected: %v", where, err)
	case errors.As(err, &handshake) && handshake.certMissing && (remoteAlert(err) != "" || isClosed(err)):
		return fmt.Errorf("%s wants a client certificate (tls-auth-clients yes): give --cert and --key (%s)", where, closedOr(remoteAlert(err)))
	case remoteAlert(err) != "":
		return explainAlert(remoteAlert(err), where, t)
	case errors.As(err, &recordErr):
		return fmt.Errorf("TLS handshake with %s failed: the server does not speak TLS there (drop --tls or rediss://?)", where)
	case errors.As(err, &handshake) && (errors.Is(err, context.DeadlineExceeded) || isTimeout(err)):
		return fmt.Errorf("TLS handshake with %s got no answer within %v: does the server speak TLS there? (if not, drop --tls or rediss://)", where, t.Timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot connect to %s: connection refused; is redis-server running there? (try redtop --demo for a private demo)", where)
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("cannot connect to %s: no such socket; is redis-server running there? (try redtop --demo for a private demo)", where)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("cannot connect to %s: permission denied on the socket", where)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Errorf("timed out talking to %s after %v", where, t.Timeout)
	case isClosed(err):
		if t.TLS == nil {
			return fmt.Errorf("%s closed the connection (does it require --tls?)", where)
		}
		return fmt.Errorf("%s closed the connection", where)
	case strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:"):
		return fmt.Errorf("TLS handshake with %s failed: %s", where, msg)
	}
	return fmt.Errorf("%s: %s", where, msg)
}

// remoteAlert is the TLS alert the server sent ("tls: certificate
// required"), "" when err is not one. crypto/tls reports a received alert
// as a net.OpError whose Op is "remote error", during the handshake or, in
// TLS 1.3, on the first read after it (the server checks the client's
// certificate after the client thinks the handshake is done).
func remoteAlert(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		return op.Err.Error()
	}
	return ""
}

// explainAlert reads a server's TLS alert. With a client certificate
// given, the certificate alerts are about it: the server is the one
// checking it.
func explainAlert(alert, where string, t Target) error {
	reason := strings.TrimPrefix(alert, "tls: ")
	if t.TLS != nil && len(t.TLS.Certificates) > 0 && strings.Contains(reason, "certificate") {
		return fmt.Errorf("%s refused redtop's client certificate (%s): --cert must be valid and signed by a CA in the server's tls-ca-cert-file", where, reason)
	}
	return fmt.Errorf("TLS handshake with %s failed: the server said %s", where, reason)
}

// closedOr is what the server said: its alert, or that it hung up.
func closedOr(alert string) string {
	if alert == "" {
		return "the server closed the connection"
	}
	return "the server said " + strings.TrimPrefix(alert, "tls: ")
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
