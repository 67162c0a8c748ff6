// Command capture regenerates the MONITOR capture next to it from a real,
// private redis-server. From the module root:
//
//	go run ./redisinfo/testdata/monitor/capture
//
// The file holds the exact bytes the server sent to a raw connection after
// MONITOR (its "+OK" reply included, \r\n line endings as sent), while the
// commands below ran from other connections: TCP, IPv6 when the host has
// ::1, a unix socket, Lua scripts and functions, MULTI/EXEC, AUTH and
// HELLO (which Redis redacts), binary and non-ASCII arguments, several
// databases.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/internal/redisproc"
)

func main() {
	out := flag.String("out", "redisinfo/testdata/monitor", "directory to write the capture to")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()

	sockDir, err := os.MkdirTemp("", "redtop-capture-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "redis.sock")
	bind := "127.0.0.1"
	if l, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		l.Close()
		bind = "127.0.0.1 ::1"
	}
	srv, err := redisproc.Start(ctx, redisproc.Options{Args: []string{
		"--bind", bind, "--unixsocket", sock, "--unixsocketperm", "700",
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()

	mon, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		log.Fatal(err)
	}
	if _, err := mon.Write([]byte("MONITOR\r\n")); err != nil {
		log.Fatal(err)
	}
	captured := make(chan []byte)
	go func() {
		var b []byte
		br := bufio.NewReaderSize(mon, 1<<20)
		for {
			line, err := br.ReadBytes('\n')
			b = append(b, line...)
			if err != nil {
				captured <- b
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)

	run(ctx, srv, sock, bind != "127.0.0.1")

	time.Sleep(300 * time.Millisecond)
	mon.Close()
	b := <-captured
	path := filepath.Join(*out, "redis7-monitor.txt")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s: %d bytes, %d lines", path, len(b), strings.Count(string(b), "\n"))
}

func client(network, addr string, db int) *redis.Client {
	return redis.NewClient(&redis.Options{
		Network: network, Addr: addr, DB: db, Protocol: 2, DisableIdentity: true,
		ClientName: "capture", PoolSize: 1,
	})
}

// raw sends exact RESP bytes on a fresh connection and reads n reply lines
// (enough for the simple replies used here).
func raw(network, addr string, payload string, n int) {
	c, err := net.Dial(network, addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(payload)); err != nil {
		log.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := 0; i < n; i++ {
		if _, err := br.ReadString('\n'); err != nil {
			log.Fatal(err)
		}
	}
}

func resp(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

func must(err error) {
	if err != nil && err != redis.Nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, srv *redisproc.Server, sock string, ipv6 bool) {
	tcp := client("tcp", srv.Addr(), 0)
	defer tcp.Close()
	must(tcp.Ping(ctx).Err()) // the handshake: CLIENT SETNAME

	// Quoting: quotes, backslashes, spaces, a fake end of the client part.
	must(tcp.Set(ctx, `a"b`, `x\y`, 0).Err())
	must(tcp.Set(ctx, "key with space", `x] "y`, 0).Err())
	must(tcp.Set(ctx, "empty", "", 0).Err())

	// Every byte value, in a key and a value, sent raw.
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	raw("tcp", srv.Addr(), resp("SET", "bin:\x00\xff\n", string(all)), 1)
	// Escapes Redis writes by name: \a \b \t \n \r, and DEL and ESC as \x.
	raw("tcp", srv.Addr(), resp("SET", "ctl", "\a\b\t\n\r\x1b\x7f"), 1)
	// An inline command, upper case as typed.
	raw("tcp", srv.Addr(), "PING\r\n", 1)
	// Non-ASCII text: Redis escapes every byte >= 0x80.
	must(tcp.Set(ctx, "greeting:fr", "héllo ✓ 🙂", 0).Err())

	// Key-taking commands the top view folds into prefixes.
	must(tcp.MSet(ctx, "user:1000:name", "ann", "user:1001:name", "bob").Err())
	must(tcp.Get(ctx, "user:1000:name").Err())
	must(tcp.Incr(ctx, "counter:page:42").Err())
	must(tcp.Expire(ctx, "user:1000:name", 100*time.Second).Err())
	must(tcp.HSet(ctx, "session:3f2a9c1e-8b7d-4e6f-a1b2-c3d4e5f60718", "uid", 1000, "ttl", 3600).Err())
	must(tcp.LPush(ctx, "queue:jobs", "job-1", "job-2").Err())
	must(tcp.ZAdd(ctx, "board:2024", redis.Z{Score: 1.5, Member: "ann"}).Err())
	must(tcp.XAdd(ctx, &redis.XAddArgs{Stream: "events:stream", Values: []any{"kind", "click"}}).Err())
	must(tcp.Publish(ctx, "news", "hello").Err())
	must(tcp.Del(ctx, "queue:jobs").Err())
	must(tcp.Get(ctx, "missing:key").Err())
	must(tcp.Do(ctx, "client", "list", "id", "1").Err())

	// A long value: 4 KiB of every byte value.
	long := strings.Repeat(string(all), 16)
	must(tcp.Set(ctx, "long:value", long, 0).Err())

	// Scripts from a unix socket client: the EVAL line, then one line per
	// redis.call with client "lua".
	unix := client("unix", sock, 0)
	defer unix.Close()
	must(unix.Eval(ctx, "redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[1])", []string{"lua:key"}, "lua\"val").Err())
	sha, err := unix.ScriptLoad(ctx, "return redis.call('incrby', KEYS[1], ARGV[1])").Result()
	must(err)
	must(unix.EvalSha(ctx, sha, []string{"lua:counter"}, 5).Err())
	must(unix.FunctionLoadReplace(ctx, "#!lua name=captlib\nredis.register_function('bump', function(keys, args) return redis.call('incr', keys[1]) end)").Err())
	must(unix.FCall(ctx, "bump", []string{"fn:counter"}).Err())

	// A transaction: MONITOR shows MULTI, the queued commands, then EXEC.
	_, err = tcp.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "tx:a", "1", 0)
		p.Incr(ctx, "tx:a")
		return nil
	})
	must(err)

	// A blocking pop served by a later push.
	blocked := client("tcp", srv.Addr(), 0)
	defer blocked.Close()
	must(blocked.Ping(ctx).Err())
	done := make(chan struct{})
	go func() {
		must(blocked.BLPop(ctx, 5*time.Second, "queue:wait").Err())
		close(done)
	}()
	time.Sleep(50 * time.Millisecond)
	must(tcp.RPush(ctx, "queue:wait", "w1").Err())
	<-done

	// Credentials: Redis 7.0 shows AUTH, HELLO … AUTH, and sensitive
	// CONFIG SET values as "(redacted)".
	must(tcp.Do(ctx, "acl", "setuser", "bob", "on", ">s3cret", "~*", "+@all").Err())
	raw("tcp", srv.Addr(), resp("AUTH", "bob", "s3cret")+resp("PING"), 2)
	raw("tcp", srv.Addr(), resp("HELLO", "2", "AUTH", "bob", "s3cret", "SETNAME", "hello-client"), 14)
	raw("tcp", srv.Addr(), resp("AUTH", "bob", "wrong"), 1)
	must(tcp.Do(ctx, "config", "set", "masterauth", "s3cret").Err())
	must(tcp.Do(ctx, "config", "set", "masterauth", "").Err())

	// Another database: the handshake's SELECT, then the command.
	db3 := client("tcp", srv.Addr(), 3)
	defer db3.Close()
	must(db3.Set(ctx, "db3:key", "v", 0).Err())
	must(db3.Eval(ctx, "return redis.call('get', KEYS[1])", []string{"db3:key"}).Err())

	if ipv6 {
		port := srv.Addr()[strings.LastIndex(srv.Addr(), ":")+1:]
		v6 := client("tcp", "[::1]:"+port, 0)
		defer v6.Close()
		must(v6.Get(ctx, "from:ipv6").Err())
	}
}
