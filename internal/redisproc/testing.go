package redisproc

import (
	"context"
	"os"
	"testing"
)

// needBinary skips the test when redis-server is not on PATH, unless CI
// is set: then it fails, so a CI machine that lost its server cannot pass
// by skipping everything.
func needBinary(t testing.TB) {
	t.Helper()
	if _, err := Binary(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
}

// ForTest starts a server for a test and stops it in t.Cleanup. Without
// redis-server on PATH the test is skipped, unless CI is set (needBinary).
func ForTest(t testing.TB, opt Options) *Server {
	t.Helper()
	needBinary(t)
	s, err := Start(context.Background(), opt)
	if err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// FreePort is a loopback TCP port nobody listens on (now), for a test that
// needs an address where nothing answers.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}
