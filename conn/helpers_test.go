package conn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"redtop/conn"
	"redtop/internal/redisproc"
)

// resolve parses args the way main does (Bind, then Parse) and resolves them
// with env standing in for the environment.
func resolve(t *testing.T, args []string, env map[string]string, askpass func() (string, error)) (conn.Target, []string, error) {
	t.Helper()
	var c conn.Config
	fs := pflag.NewFlagSet("redtop", pflag.ContinueOnError)
	c.Bind(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	getenv := func(k string) string { return env[k] }
	return c.Resolve(getenv, askpass)
}

func mustResolve(t *testing.T, args ...string) conn.Target {
	t.Helper()
	target, _, err := resolve(t, args, nil, nil)
	if err != nil {
		t.Fatalf("resolve %q: %v", args, err)
	}
	return target
}

// serverArgs are the flags that point redtop at s, then extra.
func serverArgs(s *redisproc.Server, extra ...string) []string {
	args := []string{"-p", strconv.Itoa(s.Port)}
	if s.Network() == "unix" {
		args = []string{"-s", s.Socket}
	}
	return append(args, extra...)
}

// newClient builds a client exactly as redtop does, from Target.Options.
func newClient(t *testing.T, target conn.Target) *redis.Client {
	t.Helper()
	c := redis.NewClient(target.Options())
	t.Cleanup(func() { c.Close() })
	return c
}

// ctx bounds a test's Redis calls so a broken setup fails instead of hanging.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// explain runs conn.Explain and checks what every message must be: one line,
// without the password.
func explain(t *testing.T, err error, target conn.Target) string {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error talking to %s, got none", target)
	}
	e := conn.Explain(err, target)
	if e == nil {
		t.Fatalf("Explain(%v) = nil", err)
	}
	msg := e.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("Explain gave more than one line: %q", msg)
	}
	if target.Password != "" && strings.Contains(msg, target.Password) {
		t.Errorf("Explain leaks the password: %q", msg)
	}
	t.Logf("raw: %v\nexplained: %s", err, msg)
	return msg
}

func wantContains(t *testing.T, msg string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(msg, s) {
			t.Errorf("message %q does not contain %q", msg, s)
		}
	}
}

// freePort returns a loopback port nobody listens on (now).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testCA is a throwaway certificate authority.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	file    string // certPEM written to disk, for --cacert
}

func randSerial(t *testing.T) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randSerial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.file = writeFile(t, name+".crt", ca.certPEM)
	return ca
}

// issue signs a certificate for 127.0.0.1 and localhost and writes it and
// its key as PEM files.
func (ca *testCA) issue(t *testing.T, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(t),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeFile(t, name+".crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyFile = writeFile(t, name+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return certFile, keyFile
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsServer is a redis-server that speaks TLS on TLSPort and plain RESP on
// its unix socket (which redisproc uses to see it is ready).
type tlsServer struct {
	*redisproc.Server
	TLSPort int
}

// startTLS starts a TLS redis-server with a certificate from ca. redisproc
// has no TLS option, but Options.Unix leaves TCP off (--port 0) and waits on
// the socket, so the TLS flags can ride in Args. Unix servers are started
// once by redisproc (no retry on a port clash), so retry here.
func startTLS(t *testing.T, ca *testCA) *tlsServer {
	t.Helper()
	if _, err := redisproc.Binary(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	certFile, keyFile := ca.issue(t, "server")
	var lastErr error
	for range 3 {
		port := freePort(t)
		s, err := redisproc.Start(context.Background(), redisproc.Options{Unix: true, Args: []string{
			"--tls-port", strconv.Itoa(port),
			"--tls-cert-file", certFile,
			"--tls-key-file", keyFile,
			"--tls-ca-cert-file", ca.file,
			"--tls-auth-clients", "no",
		}})
		if err == nil {
			t.Cleanup(s.Stop)
			return &tlsServer{Server: s, TLSPort: port}
		}
		lastErr = err
	}
	t.Fatalf("start TLS redis-server: %v", lastErr)
	return nil
}
