package redisproc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestTLSServer: a TLS server has no plain port, checks client
// certificates when asked to, and answers redisproc's own client.
func TestTLSServer(t *testing.T) {
	t.Parallel()
	pki := PKIForTest(t, "redisproc")
	s := ForTest(t, Options{TLS: pki.ServerTLS("yes")})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := adminClient(s)
	defer c.Close()
	info, err := c.Info(ctx, "server").Result()
	if err != nil || !strings.Contains(info, "tcp_port:"+itoa(s.Port)) {
		t.Fatalf("INFO over TLS: %v\n%s", err, info)
	}
	// Without a client certificate the server refuses.
	noCert := s.ClientTLS()
	noCert.Certificates = nil
	nc := redis.NewClient(&redis.Options{Addr: s.Addr(), TLSConfig: noCert, DisableIdentity: true, MaxRetries: -1})
	defer nc.Close()
	if err := nc.Ping(ctx).Err(); err == nil {
		t.Fatal("PING without a client certificate succeeded under tls-auth-clients yes")
	}
	// Nor is there anything plain on the port.
	plain := redis.NewClient(&redis.Options{Addr: s.Addr(), DisableIdentity: true, MaxRetries: -1, ReadTimeout: 300 * time.Millisecond})
	defer plain.Close()
	if err := plain.Ping(ctx).Err(); err == nil {
		t.Fatal("plain PING answered on the TLS port")
	}
}

// TestTLSCluster: nodes talk TLS to clients, peers and replicas, and
// announce their TLS ports.
func TestTLSCluster(t *testing.T) {
	t.Parallel()
	pki := PKIForTest(t, "redisproc-cluster")
	start := time.Now()
	c := ClusterForTestWith(t, 3, 1, Options{TLS: pki.ServerTLS("yes")})
	t.Logf("TLS cluster of 3 masters + 3 replicas ready in %v", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// go-redis checks each node's certificate against the address dialled.
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), TLSConfig: c.Nodes[0].ClientTLS(), DisableIdentity: true, Protocol: 2})
	defer cc.Close()
	for i := range 20 {
		if err := cc.Set(ctx, KeyForSlot(i*800), "v", 0).Err(); err != nil {
			t.Fatalf("SET through a TLS cluster client: %v", err)
		}
	}
	r := adminClient(c.Replicas()[0])
	defer r.Close()
	info, _ := r.Info(ctx, "replication").Result()
	if !strings.Contains(info, "master_link_status:up") || !strings.Contains(info, "master_port:"+itoa(c.Masters()[0].Port)) {
		t.Fatalf("replica over TLS:\n%s", info)
	}
}
