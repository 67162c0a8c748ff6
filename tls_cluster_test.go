package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/internal/redisproc"
)

// TestTLSCluster: on a cluster whose nodes speak only TLS (to clients, on
// the bus and to replicas), redtop -c --tls finds every master through the
// seed, dials each on the TLS port it announces, and sums over them.
func TestTLSCluster(t *testing.T) {
	pki := redisproc.PKIForTest(t, "redtop-cluster")
	cl := redisproc.ClusterForTestWith(t, 3, 0, redisproc.Options{TLS: pki.ServerTLS("yes")})
	ctx := context.Background()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), TLSConfig: cl.Nodes[0].ClientTLS(), DisableIdentity: true, Protocol: 2})
	defer cc.Close()
	for i := range 300 {
		if err := cc.Set(ctx, fmt.Sprintf("user:%d", i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	seed := cl.Nodes[1]
	code, out, errOut := runArgs(t, "-c", "-p", strconv.Itoa(seed.Port), "--tls", "--cacert", pki.CAFile,
		"--cert", pki.ClientCertFile, "--key", pki.ClientKeyFile, "--once", "--json", "--interval", "200ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Nodes        int
		Keyspace     map[string]struct{ Keys int64 }
		ClusterState string `json:"cluster_state"`
		SlotsOK      int64  `json:"cluster_slots_ok"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Nodes != 3 || rep.Keyspace["db0"].Keys != 300 || rep.ClusterState != "ok" || rep.SlotsOK != 16384 {
		t.Fatalf("nodes %d, db0 keys %d, state %q, slots ok %d; want 3 masters, 300 keys, ok, 16384",
			rep.Nodes, rep.Keyspace["db0"].Keys, rep.ClusterState, rep.SlotsOK)
	}
	// The dashboard: the poller and the cluster watcher dial every master
	// over TLS.
	target := targetFor(t, "-c", "-p", strconv.Itoa(seed.Port), "--tls", "--cacert", pki.CAFile,
		"--cert", pki.ClientCertFile, "--key", pki.ClientKeyFile)
	d, _ := startTarget(t, target, time.Minute, 120, 30)
	d.expect("Nodes · 3 masters", cl.Nodes[0].Addr(), cl.Nodes[1].Addr(), cl.Nodes[2].Addr(), "cluster ok · slots 16,384 ok")

	// A wrong CA fails closed at the seed, before any node is dialled.
	other := redisproc.PKIForTest(t, "redtop-cluster-wrong")
	code, out, errOut = runArgs(t, "-c", "-p", strconv.Itoa(seed.Port), "--tls", "--cacert", other.CAFile,
		"--cert", pki.ClientCertFile, "--key", pki.ClientKeyFile, "--once")
	oneLine(t, "wrong CA", code, out, errOut, "x509", "certificate")
}
