package redisinfo

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"redtop/internal/redisproc"
)

// clientListCapture is CLIENT LIST from redis-server 7.0.15, captured by
// TestCaptureClientList (see testdata/clientlist-README.md).
const clientListCapture = "testdata/clientlist-redis7.txt"

// TestCaptureClientList rewrites the capture, with REDTOP_CAPTURE=1:
//
//	REDTOP_CAPTURE=1 go test ./redisinfo -run TestCaptureClientList
//
// The master listens on TCP and a unix socket and has a replica; each
// application client is a raw connection that sends its commands by hand.
func TestCaptureClientList(t *testing.T) {
	if os.Getenv("REDTOP_CAPTURE") == "" {
		t.Skip("set REDTOP_CAPTURE=1 to rewrite " + clientListCapture)
	}
	sock := filepath.Join(t.TempDir(), "redis.sock")
	r := newActRig(t, "--unixsocket", sock, "--unixsocketperm", "700")
	redisproc.ForTest(t, redisproc.Options{Args: []string{"--replicaof", "127.0.0.1", strconv.Itoa(r.srv.Port)}})
	r.addUser(t, "mon", "+@read", "+@connection", "+client|setname", "+info", "-@dangerous")
	tcp := func() *rawConn { return dialRaw(t, "tcp", r.srv.Addr()) }

	worker := tcp()
	worker.send(t, false, "client", "setname", "app-worker")
	worker.send(t, false, "select", "2")
	worker.send(t, false, "multi")
	worker.send(t, false, "set", "k", "v")
	worker.send(t, false, "incr", "n")

	sub := tcp()
	sub.send(t, false, "client", "setname", "app-sub")
	sub.send(t, true, "subscribe", "orders", "payments")
	psub := tcp()
	psub.send(t, false, "client", "setname", "app-psub")
	psub.send(t, true, "psubscribe", "news.*")
	ssub := tcp()
	ssub.send(t, false, "client", "setname", "app-ssub")
	ssub.send(t, true, "ssubscribe", "shard-a")

	blocked := tcp()
	blocked.send(t, false, "client", "setname", "app-blocked")
	blocked.send(t, true, "blpop", "queue:never", "0")

	resp3 := tcp()
	resp3.send(t, false, "hello", "3", "setname", "app-resp3")
	resp3.send(t, false, "client", "tracking", "on")
	resp3.send(t, false, "get", "k")

	unix := dialRaw(t, "unix", sock)
	unix.send(t, false, "client", "setname", "app-unix")
	unix.send(t, false, "ping")

	user := tcp()
	user.send(t, false, "auth", "mon", "pw")
	user.send(t, false, "client", "setname", "dashboard")

	anon := tcp()
	anon.send(t, false, "ping")

	dash := tcp()
	dash.send(t, false, "client", "setname", "redtop")
	dash.send(t, false, "info", "server")
	mon := tcp()
	mon.send(t, false, "client", "setname", "redtop-monitor")
	mon.send(t, false, "monitor")

	// Let the replica connect and everything settle.
	deadline := time.Now().Add(10 * time.Second)
	for {
		text := r.do(t, "client", "list").(string)
		if strings.Contains(text, "flags=S") && strings.Count(text, "\n") >= 13 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica did not attach:\n%s", text)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1100 * time.Millisecond) // non-zero idle and age
	text := r.do(t, "client", "list").(string)
	if err := os.WriteFile(clientListCapture, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d clients, %d bytes", clientListCapture, strings.Count(text, "\n"), len(text))
}
