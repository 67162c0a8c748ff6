package redisproc

import (
	"context"
	"os"
	"testing"
)

// ForTest starts a server for a test and stops it in t.Cleanup. Without
// redis-server on PATH the test is skipped, unless CI is set: then it fails,
// so a CI machine that lost its server cannot pass by skipping everything.
func ForTest(t testing.TB, opt Options) *Server {
	t.Helper()
	if _, err := Binary(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	s, err := Start(context.Background(), opt)
	if err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}
