package conn_test

import (
	"strconv"
	"testing"
	"time"

	"redtop/conn"
	"redtop/internal/redisproc"
)

func TestTLS(t *testing.T) {
	t.Parallel()
	pki := redisproc.PKIForTest(t, "redtop-test-ca")
	otherCA := redisproc.PKIForTest(t, "someone-elses-ca")
	s := redisproc.ForTest(t, redisproc.Options{TLS: pki.ServerTLS("no")})
	port := strconv.Itoa(s.Port)
	plain := redisproc.ForTest(t, redisproc.Options{})

	works := []struct {
		name string
		args []string
	}{
		{"cacert", []string{"--tls", "-p", port, "--cacert", pki.CAFile}},
		{"cacert alone turns tls on", []string{"-p", port, "--cacert", pki.CAFile}},
		{"localhost name", []string{"--tls", "-h", "localhost", "-p", port, "--cacert", pki.CAFile}},
		{"rediss uri", []string{"-u", "rediss://127.0.0.1:" + port, "--cacert", pki.CAFile}},
		{"sni matching the certificate", []string{"--tls", "-p", port, "--cacert", pki.CAFile, "--sni", "localhost"}},
		{"insecure without ca", []string{"--tls", "-p", port, "--insecure"}},
		{"insecure with the wrong ca", []string{"--tls", "-p", port, "--cacert", otherCA.CAFile, "--insecure"}},
		{"skip_verify with insecure", []string{"-u", "rediss://127.0.0.1:" + port + "?skip_verify=true", "--insecure"}},
	}
	for _, tc := range works {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := mustResolve(t, tc.args...)
			c := newClient(t, target)
			if err := c.Ping(ctx(t)).Err(); err != nil {
				t.Fatalf("PING over TLS: %v", conn.Explain(err, target))
			}
			// The connection really is the TLS one: only it is on this port.
			if err := c.Set(ctx(t), "redtop:tls", "yes", 0).Err(); err != nil {
				t.Fatal(err)
			}
		})
	}

	// Certificate problems fail closed, and Explain names the certificate.
	rejects := []struct {
		name string
		args []string
		want []string
	}{
		{"no ca", []string{"--tls", "-p", port}, []string{"certificate", "x509"}},
		{"wrong ca", []string{"--tls", "-p", port, "--cacert", otherCA.CAFile}, []string{"certificate", "x509"}},
		{"name not in the certificate", []string{"--tls", "-p", port, "--cacert", pki.CAFile, "--sni", "redis.example"},
			[]string{"certificate", "redis.example"}},
	}
	for _, tc := range rejects {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := mustResolve(t, tc.args...)
			msg := explain(t, newClient(t, target).Ping(ctx(t)).Err(), target)
			wantContains(t, msg, tc.want...)
			wantContains(t, msg, "TLS", "tls:127.0.0.1:"+port)
		})
	}

	t.Run("plain client on the tls port", func(t *testing.T) {
		t.Parallel()
		target := mustResolve(t, "-p", port)
		msg := explain(t, newClient(t, target).Ping(ctx(t)).Err(), target)
		wantContains(t, msg, "closed the connection", "--tls")
	})

	// redis-server reads a ClientHello as an inline command and looks for
	// its newline with strchr, which stops at the hello's first zero byte:
	// it waits for more and never answers. The handshake times out, and
	// that is the sign of a port without TLS.
	t.Run("tls client on a plain port", func(t *testing.T) {
		t.Parallel()
		target := mustResolve(t, "--tls", "--cacert", pki.CAFile, "-p", strconv.Itoa(plain.Port), "--timeout", "300ms")
		msg := explain(t, newClient(t, target).Ping(ctx(t)).Err(), target)
		wantContains(t, msg, "TLS handshake", "speak TLS", "drop --tls")
	})
}

// TestMutualTLS: against a server that checks client certificates, a
// missing one is named as such every time (in TLS 1.3 the refusal comes
// after the client's handshake is done, and can be lost to a reset), and a
// foreign one is called the client's certificate, not the server's.
func TestMutualTLS(t *testing.T) {
	t.Parallel()
	pki := redisproc.PKIForTest(t, "mtls")
	stranger := redisproc.PKIForTest(t, "stranger")
	required := redisproc.ForTest(t, redisproc.Options{TLS: pki.ServerTLS("yes")})
	optional := redisproc.ForTest(t, redisproc.Options{TLS: pki.ServerTLS("optional")})
	base := func(s *redisproc.Server, extra ...string) []string {
		return append([]string{"--tls", "-p", strconv.Itoa(s.Port), "--cacert", pki.CAFile}, extra...)
	}

	t.Run("no client certificate", func(t *testing.T) {
		target := mustResolve(t, base(required)...)
		for range 20 {
			msg := explain(t, newClient(t, target).Ping(ctx(t)).Err(), target)
			wantContains(t, msg, "wants a client certificate", "--cert and --key", "tls:127.0.0.1:"+strconv.Itoa(required.Port))
		}
	})
	t.Run("foreign client certificate", func(t *testing.T) {
		target := mustResolve(t, base(required, "--cert", stranger.ClientCertFile, "--key", stranger.ClientKeyFile)...)
		msg := explain(t, newClient(t, target).Ping(ctx(t)).Err(), target)
		wantContains(t, msg, "refused redtop's client certificate", "unknown certificate authority")
	})
	t.Run("client certificate", func(t *testing.T) {
		target := mustResolve(t, base(required, "--cert", pki.ClientCertFile, "--key", pki.ClientKeyFile)...)
		if err := newClient(t, target).Ping(ctx(t)).Err(); err != nil {
			t.Fatal(conn.Explain(err, target))
		}
	})
	// tls-auth-clients optional asks for a certificate too: going without
	// works, the wait for the server's verdict stays short, and the
	// connection is whole after it (the session tickets were read).
	t.Run("optional", func(t *testing.T) {
		target := mustResolve(t, base(optional)...)
		c := newClient(t, target)
		start := time.Now()
		if err := c.Ping(ctx(t)).Err(); err != nil {
			t.Fatal(conn.Explain(err, target))
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("connecting took %v", d)
		}
		for i := range 50 {
			if err := c.Set(ctx(t), "k", i, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
