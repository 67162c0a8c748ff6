// Command capture regenerates the INFO captures next to it from real,
// private redis-server processes. From the module root:
//
//	go run ./redisinfo/testdata/capture
//
// Each file holds the exact payload of the server's INFO everything bulk
// reply (\r\n line endings, as sent), read from a raw socket.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/internal/redisproc"
)

func main() {
	out := flag.String("out", "redisinfo/testdata", "directory to write the captures to")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()

	master := start(ctx, redisproc.Options{})
	defer master.Stop()
	replica := start(ctx, redisproc.Options{Args: []string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port)}})
	defer replica.Stop()

	m := client(master, 0)
	waitFor(ctx, replica, "master_link_status:up")
	seed(ctx, master)

	// Load: a few clients on three databases, some misses, a few error
	// replies, a blocked client and a subscriber.
	stop := load(ctx, master)
	blocked := client(master, 0)
	go blocked.BLPop(ctx, time.Minute, "queue:never")
	sub := client(master, 0).Subscribe(ctx, "events")
	if _, err := sub.Receive(ctx); err != nil {
		log.Fatal(err)
	}
	time.Sleep(3 * time.Second) // let instantaneous_ops_per_sec settle

	save(*out, "redis7-master.txt", capture(master))
	waitInSync(ctx, m, client(replica, 0))
	save(*out, "redis7-replica.txt", capture(replica))

	if err := m.ConfigResetStat(ctx).Err(); err != nil {
		log.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	save(*out, "redis7-master-resetstat.txt", capture(master))
	stop()
	sub.Close()

	captureAOFLFU(ctx, *out)
}

func start(ctx context.Context, opt redisproc.Options) *redisproc.Server {
	s, err := redisproc.Start(ctx, opt)
	if err != nil {
		log.Fatal(err)
	}
	return s
}

func client(s *redisproc.Server, db int) *redis.Client {
	return redis.NewClient(&redis.Options{
		Network: s.Network(), Addr: s.Addr(), DB: db, Protocol: 2,
		DisableIdentity: true, ClientName: "capture", PoolSize: 2,
	})
}

// capture sends INFO everything on a raw connection and returns the bulk
// reply's payload byte for byte.
func capture(s *redisproc.Server) []byte {
	c, err := net.Dial(s.Network(), s.Addr())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "INFO everything\r\n"); err != nil {
		log.Fatal(err)
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, "$") {
		log.Fatalf("INFO: %q %v", head, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil {
		log.Fatal(err)
	}
	body := make([]byte, n+2)
	if _, err := io.ReadFull(r, body); err != nil {
		log.Fatal(err)
	}
	return body[:n]
}

func save(dir, name string, b []byte) {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s (%d bytes)", p, len(b))
}

// seed: db0 strings (a third with TTLs) and a few other types, db1 hashes
// with TTLs, db3 lists and sorted sets without.
func seed(ctx context.Context, s *redisproc.Server) {
	c0, c1, c3 := client(s, 0), client(s, 1), client(s, 3)
	p := c0.Pipeline()
	for i := range 3000 {
		k := fmt.Sprintf("user:%d:session", i)
		p.Set(ctx, k, strings.Repeat("x", 20+i%200), 0)
		if i%3 == 0 {
			p.Expire(ctx, k, time.Duration(600+i)*time.Second)
		}
	}
	for i := range 50 {
		p.SAdd(ctx, "tags:"+strconv.Itoa(i), "a", "b", "c", i)
	}
	p.XAdd(ctx, &redis.XAddArgs{Stream: "events:stream", Values: []any{"k", "v"}})
	exec(ctx, p)
	p = c1.Pipeline()
	for i := range 400 {
		k := fmt.Sprintf("cache:item:%d", i)
		p.HSet(ctx, k, "name", "item", "price", i, "stock", i%7)
		p.Expire(ctx, k, time.Duration(60+i)*time.Second)
	}
	exec(ctx, p)
	p = c3.Pipeline()
	for i := range 60 {
		p.RPush(ctx, "jobs:"+strconv.Itoa(i), "a", "b", "c", "d")
		p.ZAdd(ctx, "board:"+strconv.Itoa(i), redis.Z{Score: float64(i), Member: "m"})
	}
	exec(ctx, p)
}

func exec(ctx context.Context, p redis.Pipeliner) {
	if _, err := p.Exec(ctx); err != nil {
		log.Fatal(err)
	}
}

// load runs a mixed workload until stop is called.
func load(ctx context.Context, s *redisproc.Server) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range 4 {
		db := []int{0, 0, 1, 3}[w]
		c := client(s, db)
		wg.Go(func() {
			defer c.Close()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for n := 0; ctx.Err() == nil; n++ {
				i := rng.IntN(4000) // some misses: only 3000 sessions exist
				switch db {
				case 0:
					k := fmt.Sprintf("user:%d:session", i)
					switch n % 10 {
					case 0:
						c.Set(ctx, k, "refreshed", 0)
					case 1:
						c.Expire(ctx, k, 900*time.Second)
					case 2:
						c.Incr(ctx, "counter:hits")
					case 3:
						c.Exists(ctx, k)
					default:
						c.Get(ctx, k)
					}
					if n%500 == 0 {
						c.Incr(ctx, "user:1:session")       // ERR not an integer
						c.LPush(ctx, "user:2:session", "x") // WRONGTYPE
					}
				case 1:
					k := fmt.Sprintf("cache:item:%d", i%500)
					if n%5 == 0 {
						c.HIncrBy(ctx, k, "stock", 1)
					} else {
						c.HGetAll(ctx, k)
					}
				case 3:
					c.LRange(ctx, "jobs:"+strconv.Itoa(i%60), 0, -1)
					c.ZScore(ctx, "board:"+strconv.Itoa(i%60), "m")
				}
				if n%1000 == 0 {
					c.Publish(ctx, "events", "tick")
				}
				time.Sleep(200 * time.Microsecond)
			}
		})
	}
	return func() { cancel(); wg.Wait() }
}

func waitFor(ctx context.Context, s *redisproc.Server, want string) {
	c := client(s, 0)
	defer c.Close()
	for range 500 {
		if info, err := c.Info(ctx, "replication").Result(); err == nil && strings.Contains(info, want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	log.Fatalf("%s never showed %q", s.Addr(), want)
}

// waitInSync waits until the replica has processed what the master sent
// a moment ago (the load keeps the master's offset moving).
func waitInSync(ctx context.Context, master, replica *redis.Client) {
	target := offset(ctx, master, "master_repl_offset")
	for range 500 {
		if offset(ctx, replica, "slave_repl_offset") >= target {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	log.Fatal("replica did not catch up")
}

func offset(ctx context.Context, c *redis.Client, field string) int64 {
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		log.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// captureAOFLFU fills a 64mb allkeys-lfu server with AOF on past its limit,
// so it evicts, warms some keys, and captures while a BGREWRITEAOF runs.
func captureAOFLFU(ctx context.Context, dir string) {
	s := start(ctx, redisproc.Options{Args: []string{
		"--appendonly", "yes", "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lfu",
	}})
	defer s.Stop()
	c := client(s, 0)
	defer c.Close()
	val := strings.Repeat("v", 4096)
	for batch := range 24 {
		p := c.Pipeline()
		for i := range 1000 {
			p.Set(ctx, fmt.Sprintf("blob:%d", batch*1000+i), val, 0)
		}
		exec(ctx, p)
	}
	for range 20 { // hot keys for LFU
		p := c.Pipeline()
		for i := range 200 {
			p.Get(ctx, fmt.Sprintf("blob:%d", 23000+i))
		}
		p.Exec(ctx) // some are evicted: misses are fine
	}
	stop := load(ctx, s)
	defer stop()
	time.Sleep(time.Second)
	for attempt := range 10 {
		if err := c.BgRewriteAOF(ctx).Err(); err != nil {
			log.Fatal(err)
		}
		b := capture(s)
		if strings.Contains(string(b), "aof_rewrite_in_progress:1") {
			save(dir, "redis7-aof-lfu.txt", b)
			return
		}
		log.Printf("attempt %d: rewrite already over, again", attempt)
		time.Sleep(500 * time.Millisecond)
	}
	log.Print("never caught a rewrite in progress: saving with AOF on")
	save(dir, "redis7-aof-lfu.txt", capture(s))
}
