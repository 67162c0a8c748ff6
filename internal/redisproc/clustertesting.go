package redisproc

import (
	"context"
	"testing"
)

// ClusterForTest starts a cluster of masters with replicas each for a test
// and stops it in t.Cleanup. Without redis-server on PATH the test is
// skipped, unless CI is set (as ForTest).
func ClusterForTest(t testing.TB, masters, replicas int) *Cluster {
	t.Helper()
	return ClusterForTestWith(t, masters, replicas, Options{})
}

// ClusterForTestWith is ClusterForTest with options for every node (TLS,
// extra arguments).
func ClusterForTestWith(t testing.TB, masters, replicas int, opt Options) *Cluster {
	t.Helper()
	needBinary(t)
	c, err := StartCluster(context.Background(), masters, replicas, opt)
	if err != nil {
		t.Fatalf("start redis cluster: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}
