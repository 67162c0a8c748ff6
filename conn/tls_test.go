package conn_test

import (
	"strconv"
	"testing"

	"redtop/conn"
	"redtop/internal/redisproc"
)

func TestTLS(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "redtop-test-ca")
	otherCA := newCA(t, "someone-elses-ca")
	s := startTLS(t, ca)
	port := strconv.Itoa(s.TLSPort)
	plain := redisproc.ForTest(t, redisproc.Options{})

	works := []struct {
		name string
		args []string
	}{
		{"cacert", []string{"--tls", "-p", port, "--cacert", ca.file}},
		{"cacert alone turns tls on", []string{"-p", port, "--cacert", ca.file}},
		{"localhost name", []string{"--tls", "-h", "localhost", "-p", port, "--cacert", ca.file}},
		{"rediss uri", []string{"-u", "rediss://127.0.0.1:" + port, "--cacert", ca.file}},
		{"sni matching the certificate", []string{"--tls", "-p", port, "--cacert", ca.file, "--sni", "localhost"}},
		{"insecure without ca", []string{"--tls", "-p", port, "--insecure"}},
		{"insecure with the wrong ca", []string{"--tls", "-p", port, "--cacert", otherCA.file, "--insecure"}},
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
		{"wrong ca", []string{"--tls", "-p", port, "--cacert", otherCA.file}, []string{"certificate", "x509"}},
		{"name not in the certificate", []string{"--tls", "-p", port, "--cacert", ca.file, "--sni", "redis.example"},
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
		target := mustResolve(t, "--tls", "--cacert", ca.file, "-p", strconv.Itoa(plain.Port), "--timeout", "300ms")
		msg := explain(t, newClient(t, target).Ping(ctx(t)).Err(), target)
		wantContains(t, msg, "TLS handshake", "speak TLS", "drop --tls")
	})
}
