package main

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/internal/redisproc"
	"redtop/redisinfo"
	"redtop/ui"
)

// hostile are key names that must never reach the terminal raw.
var hostile = []string{
	"evil\x1b]52;c;SGVsbG8=\x07key",
	"line\nbreak",
	"\xff\xfe-not-utf8",
	"wide 漢字 key",
	"star*key", "bracket[key", `back\slash`,
}

func seedBrowse(t *testing.T, ctx context.Context, c *redis.Client) {
	t.Helper()
	pipe := c.Pipeline()
	rnd := rand.New(rand.NewPCG(1, 2))
	const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	for i := 0; i < 50; i++ {
		id := make([]byte, 32)
		for j := range id {
			id[j] = alnum[rnd.IntN(len(alnum))]
		}
		pipe.Set(ctx, "nalar:1:django.contrib.sessions.cache"+string(id), "x", time.Hour)
	}
	for i := 0; i < 20; i++ {
		pipe.Set(ctx, "nalar:1:employees:list:page:"+string(rune('0'+i%10))+string(rune('a'+i/10)), "page", 5*time.Minute)
	}
	for _, k := range hostile {
		pipe.Set(ctx, k, "boo", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// driver runs the dashboard's model through main's wiring without a
// terminal: it delivers messages, runs the commands they return on their
// own goroutines, and feeds the results back until things go quiet (the
// poll ticks and status timers are left to fire into the void).
type driver struct {
	t   *testing.T
	m   *ui.Model
	out chan tea.Msg
}

func startBrowsing(t *testing.T, srv *redisproc.Server, w, h int) (*driver, *App) {
	t.Helper()
	return startTarget(t, conn.Target{Network: srv.Network(), Addr: srv.Addr(), Timeout: 2 * time.Second}, time.Minute, w, h)
}

func (d *driver) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		if msg := cmd(); msg != nil {
			d.out <- msg
		}
	}()
}

func (d *driver) send(msg tea.Msg) {
	_, cmd := d.m.Update(msg)
	d.run(cmd)
}

// settle delivers results until none comes for a while (or 3 s pass:
// a running MONITOR ticks for ever).
func (d *driver) settle() {
	stop := time.After(3 * time.Second)
	for {
		select {
		case msg := <-d.out:
			if b, ok := msg.(tea.BatchMsg); ok {
				for _, c := range b {
					d.run(c)
				}
				continue
			}
			d.send(msg)
		case <-time.After(400 * time.Millisecond):
			return
		case <-stop:
			return
		}
	}
}

func (d *driver) keys(keys ...string) {
	for _, k := range keys {
		var msg tea.KeyPressMsg
		switch k {
		case "enter":
			msg = tea.KeyPressMsg{Code: tea.KeyEnter}
		case "esc":
			msg = tea.KeyPressMsg{Code: tea.KeyEscape}
		case "down":
			msg = tea.KeyPressMsg{Code: tea.KeyDown}
		default:
			msg = tea.KeyPressMsg{Code: []rune(k)[0], Text: k}
		}
		d.send(msg)
		d.settle()
	}
}

func (d *driver) screen() string { return d.m.View().Content }

func (d *driver) expect(what ...string) {
	d.t.Helper()
	s := ansi.Strip(d.screen())
	for _, w := range what {
		if !strings.Contains(s, w) {
			d.t.Fatalf("screen lacks %q:\n%s", w, s)
		}
	}
}

// TestBrowseAndDeleteHostileKey goes through main's wiring against a real
// server: the tree folds sessions, hostile names are escaped on screen, and
// deleting one removes exactly that key.
func TestBrowseAndDeleteHostileKey(t *testing.T) {
	srv := redisproc.ForTest(t, redisproc.Options{})
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	seedBrowse(t, ctx, c)

	d, _ := startBrowsing(t, srv, 120, 30)
	var frames []string
	d.keys("2", "l") // expand nalar: (1: opens with it: a single child)
	d.expect("done in", "django.contrib.sessions.cache*", `evil\x1b]52;c;SGVsbG8=\x07key`, `\xff\xfe-not-utf8`, `line\nbreak`, "wide 漢字 key")
	frames = append(frames, d.screen())
	d.keys("/", "e", "v", "i", "l", "*", "enter")
	d.expect("match evil*", "found 1 · visited 100%")
	d.keys("enter") // the one row: its keys
	d.expect("1 shown")
	frames = append(frames, d.screen())
	d.keys("d")
	d.expect("UNLINK", `evil\x1b]52;c;SGVsbG8=\x07key`)
	d.keys("y")
	d.expect("deleted")
	frames = append(frames, d.screen())

	for _, f := range frames {
		if strings.Contains(f, "\x1b]52;c;SGVsbG8") || strings.Contains(f, "line\nbreak") || strings.Contains(f, "\xff\xfe") || strings.Contains(f, "\x07") {
			t.Fatalf("a hostile key name reached the screen raw:\n%q", f)
		}
	}
	for i, k := range hostile {
		n, err := c.Exists(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(min(i, 1)); n != want {
			t.Fatalf("%q: exists %d, want %d", k, n, want)
		}
	}
	if n, _ := c.DBSize(ctx).Result(); n != int64(50+20+len(hostile)-1) {
		t.Fatalf("dbsize %d", n)
	}
}

// TestBrowsingLeavesTheHitRateAlone: while a load runs at exactly 3 hits to
// 1 miss, the browser scans, lists and opens keys (TYPE, PTTL, OBJECT,
// GETRANGE, HSCAN… all count on the server); the figures the overview
// computes still say 75%.
func TestBrowsingLeavesTheHitRateAlone(t *testing.T) {
	srv := redisproc.ForTest(t, redisproc.Options{Unix: true})
	ctx, stopLoad := context.WithCancel(context.Background())
	load := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Addr()})
	defer load.Close()
	seedBrowse(t, ctx, load)
	load.HSet(ctx, "nalar:1:user:1:prefs", "theme", "dark", "lang", "de")
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			pipe := load.Pipeline()
			for _, k := range []string{"star*key", "line\nbreak", "wide 漢字 key", "nope"} {
				pipe.Get(ctx, k)
			}
			pipe.Exec(ctx)
			time.Sleep(time.Millisecond)
		}
	})
	defer func() { stopLoad(); wg.Wait() }()

	d, app := startBrowsing(t, srv, 120, 30)
	tr := redisinfo.NewTracker(60)
	tr.Add(app.Poller.Poll(ctx))
	d.keys("2")
	for i := 0; i < 4; i++ { // lists and values, back and forth
		d.keys("enter", "enter")
		d.expect("view auto")
		d.keys("esc", "esc", "down")
	}
	s := tr.Add(app.Poller.Poll(ctx))
	if !s.Last.HasLookups() || math.Abs(s.Last.HitRate-0.75) > 0.01 {
		t.Fatalf("hit rate while browsing %.4f over %v (%d lookups), want 0.75 ± 0.01", s.Last.HitRate, s.Last.Span, s.Last.Lookups)
	}
	t.Logf("hit rate %.5f over %d lookups while browsing", s.Last.HitRate, s.Last.Lookups)
}

// TestReadOnlyFlag: with --readonly nothing can be written from the
// browser, and the screen says why.
func TestReadOnlyFlag(t *testing.T) {
	srv := redisproc.ForTest(t, redisproc.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	c.Set(ctx, "user:1", "x", 0)
	app, err := connect(ctx, conn.Target{Network: srv.Network(), Addr: srv.Addr(), Timeout: 2 * time.Second}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	app.Browse.readOnly = true
	d := &driver{t: t, m: app.Model(ctx), out: make(chan tea.Msg, 1024)}
	d.send(tea.WindowSizeMsg{Width: 120, Height: 30})
	d.run(d.m.Init())
	d.settle()
	d.keys("2", "enter", "d", "D")
	d.expect("read-only: --readonly")
	if n, _ := c.Exists(ctx, "user:1").Result(); n != 1 {
		t.Fatal("a key was deleted in read-only mode")
	}
}
