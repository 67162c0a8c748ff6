package redisinfo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
)

// MonitorOptions shape a MONITOR session. Zero values take the defaults.
type MonitorOptions struct {
	// Ring is how many parsed lines wait for Drain (default 10,000). When
	// it is full, NEW lines are dropped, counted and not even parsed: under
	// a flood the reader spends its time emptying the socket, not parsing
	// lines nobody will see, so it keeps up on a busy host (measured: it
	// parsed only a fifth of redis-benchmark's lines). A consumer that takes
	// everything at each Drain sees lines at most one drain interval old.
	Ring int
	// RingBytes bounds the argument bytes of the lines waiting (default
	// 16 MiB); past it new lines are dropped too.
	RingBytes int
	// MaxArgs and MaxArgLen bound what one line keeps: the first 32
	// arguments, each cut to 512 bytes by default (MonitorLine.Truncated
	// says when). A SET of a 1 MB value still counts as one SET.
	MaxArgs, MaxArgLen int

	// Limit ends the session after this long (default 60 s; negative: no
	// limit), with the reason "time limit 60s reached".
	Limit time.Duration
	// MaxOmem ends the session when the server holds more than this many
	// bytes of output for the MONITOR connection (default 1 MiB; negative:
	// no check): at two checks in a row, or at one check past four times
	// the limit. A MONITOR client has no output-buffer limit by default: a
	// reader that falls behind grows the server's memory. One check alone
	// is not enough: on a loaded host a reader that keeps up is descheduled
	// now and then, and a single sample catches a few MB that are gone at
	// the next (measured with redis-cli monitor as well as redtop).
	MaxOmem int64
	// CheckEvery is the pace of the omem check (default 500 ms).
	CheckEvery time.Duration
	// Client is a normal connection to the same server, for the omem check
	// (CLIENT LIST ID n, an admin command that MONITOR itself does not
	// show). Without it there is no omem check; MonitorStats.OmemErr says so.
	Client *redis.Client

	// Ledger (may be nil) books every command the session sends to Node
	// (default the target's address), and the stream's bytes as the
	// server's output, so the dashboard can take them out of its figures.
	Ledger *Ledger
	Node   string

	// OwnAddrs are the client addresses of redtop's other connections
	// (its INFO poller, key browser): their lines are kept but marked Own.
	// MONITOR cannot tell them apart otherwise; the wiring can find them
	// with OwnClientAddrs, and SetOwnAddrs updates them as the pools
	// reconnect. Over a unix socket it cannot work: MONITOR prints the
	// same "unix:path" for every client, so such addresses (and "lua")
	// are ignored.
	OwnAddrs []string

	// Name is the connection's CLIENT SETNAME (default "redtop-monitor").
	Name string

	// stall, in tests, is called before each read of the socket: a reader
	// that stops reading, as a stopped process would.
	stall func(ctx context.Context)
}

// DefaultMonitorLimit is how long a session lasts unless told otherwise.
const DefaultMonitorLimit = 60 * time.Second

func (o *MonitorOptions) defaults(t conn.Target) {
	if o.Ring <= 0 {
		o.Ring = 10000
	}
	if o.RingBytes <= 0 {
		o.RingBytes = 16 << 20
	}
	if o.MaxArgs <= 0 {
		o.MaxArgs = 32
	}
	if o.MaxArgLen <= 0 {
		o.MaxArgLen = 512
	}
	if o.Limit == 0 {
		o.Limit = DefaultMonitorLimit
	}
	if o.MaxOmem == 0 {
		o.MaxOmem = 1 << 20
	}
	if o.CheckEvery <= 0 {
		o.CheckEvery = 500 * time.Millisecond
	}
	if o.Node == "" {
		o.Node = t.Addr
	}
	if o.Name == "" {
		o.Name = conn.ClientName + "-monitor"
	}
}

// MonitorStats describe a session.
type MonitorStats struct {
	ID        int64 // CLIENT ID of the MONITOR connection (0: unknown)
	Seen      int64 // lines read from the socket, all of them
	Dropped   int64 // lines read but not kept: the ring was full
	Skipped   int64 // lines read while paused, not kept
	Malformed int64 // lines that did not parse, not kept
	Bytes     int64 // bytes read from the socket
	Buffered  int   // lines waiting for Drain
	Started   time.Time
	Paused    bool
	Ended     bool
	EndReason string
	EndedAt   time.Time
	// Omem is the server's output buffer for the connection at the last
	// check (-1 before any), OmemPeak the largest seen.
	Omem, OmemPeak int64
	// OmemErr says why the omem check is not running ("needs
	// +client|list"), or why the last one failed.
	OmemErr string
}

// Monitor is a running MONITOR session on a connection of its own. A
// reader goroutine reads the socket as fast as it can into a bounded ring
// and never waits for the consumer, so the server never holds output for
// it; a watchdog goroutine ends the session after the time limit, or when
// the server's output buffer for it grows anyway (the host too busy to
// read). All methods are safe for concurrent use.
type Monitor struct {
	target conn.Target
	opt    MonitorOptions
	mc     *monitorConn
	ctx    context.Context
	cancel context.CancelFunc
	paused atomic.Bool
	own    atomic.Pointer[map[string]bool]
	close  sync.Once
	wg     sync.WaitGroup
	done   chan struct{}

	mu      sync.Mutex
	ring    []MonitorLine
	head, n int
	bytes   int
	st      MonitorStats
}

// StartMonitor opens a connection to t, authenticates, names it, asks its
// CLIENT ID and sends MONITOR, within t.Timeout. Connecting honours ctx;
// afterwards cancelling ctx ends the session ("cancelled"). A user without
// the right gets an error saying "needs +monitor".
func StartMonitor(ctx context.Context, t conn.Target, opt MonitorOptions) (*Monitor, error) {
	opt.defaults(t)
	mc, err := dialMonitor(ctx, t, opt)
	if err != nil {
		return nil, err
	}
	m := &Monitor{target: t, opt: opt, mc: mc, done: make(chan struct{}), ring: make([]MonitorLine, opt.Ring)}
	m.ctx, m.cancel = context.WithCancel(ctx)
	m.st = MonitorStats{ID: mc.id, Started: time.Now(), Omem: -1}
	switch {
	case opt.MaxOmem < 0:
	case opt.Client == nil:
		m.st.OmemErr = "no omem check: no client for CLIENT LIST"
	case mc.id == 0:
		m.st.OmemErr = "no omem check: " + mc.idErr
	}
	m.SetOwnAddrs(opt.OwnAddrs)
	m.wg.Add(2)
	go m.read()
	go m.watch()
	go func() {
		m.wg.Wait()
		close(m.done)
	}()
	return m, nil
}

// ID is the CLIENT ID of the MONITOR connection (0 when unknown).
func (m *Monitor) ID() int64 { return m.mc.id }

// SetOwnAddrs replaces the addresses whose lines are marked Own.
func (m *Monitor) SetOwnAddrs(addrs []string) {
	own := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		if a != "" && a != "lua" && !strings.HasPrefix(a, "unix:") && !strings.HasPrefix(a, "/") {
			own[a] = true
		}
	}
	m.own.Store(&own)
}

// Pause stops keeping lines; the socket is still read and the lines
// counted (as Skipped), so the server holds nothing for a paused view.
func (m *Monitor) Pause() { m.paused.Store(true) }

// Resume keeps lines again.
func (m *Monitor) Resume() { m.paused.Store(false) }

// Done is closed once the session has ended and its goroutines are gone.
func (m *Monitor) Done() <-chan struct{} { return m.done }

// Stop ends the session with reason (the first reason given wins), closes
// the connection and waits for the goroutines. It never waits for the
// server: closing the socket stops a blocked read at once. Lines not yet
// drained can still be drained. Calling it again does nothing.
func (m *Monitor) Stop(reason string) {
	m.end(reason)
	<-m.done
}

// Drain takes up to max of the waiting lines (all when max <= 0), oldest
// first, without blocking. The lines are the caller's.
func (m *Monitor) Drain(max int) ([]MonitorLine, MonitorStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.n
	if max > 0 && max < n {
		n = max
	}
	var out []MonitorLine
	if n > 0 {
		out = make([]MonitorLine, n)
		for i := range out {
			j := (m.head + i) % len(m.ring)
			out[i] = m.ring[j]
			m.bytes -= monitorLineBytes(&m.ring[j])
			m.ring[j] = MonitorLine{}
		}
		m.head = (m.head + n) % len(m.ring)
		m.n -= n
	}
	return out, m.statsLocked()
}

// Stats returns the session's figures without taking lines.
func (m *Monitor) Stats() MonitorStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.statsLocked()
}

func (m *Monitor) statsLocked() MonitorStats {
	st := m.st
	st.Buffered = m.n
	st.Paused = m.paused.Load()
	return st
}

// end records the first reason and closes the connection, which ends the
// reader, and the context, which ends the watchdog. It does not wait.
func (m *Monitor) end(reason string) {
	m.mu.Lock()
	if !m.st.Ended {
		m.st.Ended, m.st.EndReason, m.st.EndedAt = true, reason, time.Now()
	}
	m.mu.Unlock()
	m.close.Do(func() { m.mc.raw.Close() })
	m.cancel()
}

func (m *Monitor) ended() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.Ended
}

// monitorLineBytes is what a kept line costs, roughly.
func monitorLineBytes(l *MonitorLine) int {
	n := 128 + 24*len(l.Args)
	for _, a := range l.Args {
		n += len(a)
	}
	return n
}

// monitorBatch is what the reader hands over at once: one lock per batch.
type monitorBatch struct {
	lines                                     []MonitorLine
	seen, skipped, malformed, dropped, nbytes int64
}

func (m *Monitor) read() {
	defer m.wg.Done()
	p := monitorParser{maxArgs: m.opt.MaxArgs, maxArgLen: m.opt.MaxArgLen}
	br := m.mc.br
	// A line longer than the buffer is parsed from its start, this long:
	// enough for every argument kept, escaped (up to 4 bytes a byte).
	prefix := min(br.Size(), 64+4*(m.opt.MaxArgs+1)*m.opt.MaxArgLen+3*m.opt.MaxArgs)
	b := monitorBatch{lines: make([]MonitorLine, 0, 256)}
	var keep []byte
	room := len(m.ring) // free slots at the last flush
	for {
		if m.opt.stall != nil {
			m.opt.stall(m.ctx)
		}
		line, err := br.ReadSlice('\n')
		size, partial := len(line), false
		if errors.Is(err, bufio.ErrBufferFull) {
			// Longer than the buffer: keep its start, skip the rest.
			keep = append(keep[:0], line[:min(len(line), prefix)]...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				size += len(line)
			}
			line, partial = keep, true
		}
		b.nbytes += int64(size)
		if err != nil {
			m.flush(&b)
			m.lost(err)
			return
		}
		b.seen++
		switch {
		case m.paused.Load():
			b.skipped++
		case len(line) == 0 || line[0] != '+':
			b.malformed++ // an error reply: MONITOR never sends one mid-stream
		case len(b.lines) >= room:
			b.dropped++ // the ring is full: not worth parsing
		default:
			l, err := p.parse(line, partial)
			if err != nil {
				b.malformed++
				break
			}
			if own := *m.own.Load(); len(own) > 0 {
				l.Own = own[l.Client]
			}
			b.lines = append(b.lines, l)
		}
		if br.Buffered() == 0 || b.seen >= 512 || len(b.lines) == cap(b.lines) {
			room = m.flush(&b)
		}
	}
}

// flush puts a batch into the ring, as much as fits, and returns the
// free slots left.
func (m *Monitor) flush(b *monitorBatch) int {
	if b.nbytes > 0 {
		m.opt.Ledger.Bytes(m.opt.Node, 0, b.nbytes)
	}
	m.mu.Lock()
	m.st.Seen += b.seen
	m.st.Skipped += b.skipped
	m.st.Malformed += b.malformed
	m.st.Dropped += b.dropped
	m.st.Bytes += b.nbytes
	size := len(m.ring)
	for i := range b.lines {
		l := &b.lines[i]
		lb := monitorLineBytes(l)
		if m.n == size || m.n > 0 && m.bytes+lb > m.opt.RingBytes {
			m.st.Dropped++
			continue
		}
		m.ring[(m.head+m.n)%size] = *l
		m.n++
		m.bytes += lb
	}
	room := size - m.n
	m.mu.Unlock()
	clear(b.lines)
	*b = monitorBatch{lines: b.lines[:0]}
	return room
}

// lost ends the session after a read error, unless it was already ending
// (Stop closes the socket, which is what stopped the read).
func (m *Monitor) lost(err error) {
	if m.ended() {
		return
	}
	var reason string
	switch {
	case errors.Is(err, io.EOF):
		reason = "connection closed by the server (CLIENT KILL, output buffer limit or shutdown?)"
	case errors.Is(err, syscall.ECONNRESET):
		reason = "connection reset by the server (CLIENT KILL or shutdown?)"
	case errors.Is(err, net.ErrClosed):
		reason = "connection closed"
	default:
		reason = "connection lost: " + conn.Explain(err, m.target).Error()
	}
	m.end(reason)
}

// watch ends the session at the time limit, when ctx is cancelled, or when
// the server's output buffer for the connection passes MaxOmem.
func (m *Monitor) watch() {
	defer m.wg.Done()
	var limit <-chan time.Time
	if m.opt.Limit > 0 {
		t := time.NewTimer(m.opt.Limit)
		defer t.Stop()
		limit = t.C
	}
	var tick <-chan time.Time
	if m.opt.MaxOmem > 0 && m.opt.Client != nil && m.mc.id > 0 {
		t := time.NewTicker(m.opt.CheckEvery)
		defer t.Stop()
		tick = t.C
	}
	id := strconv.FormatInt(m.mc.id, 10)
	over := 0 // checks in a row past MaxOmem
	for {
		select {
		case <-m.ctx.Done():
			m.end("cancelled")
			return
		case <-limit:
			m.end("time limit " + monitorSeconds(m.opt.Limit) + " reached")
			return
		case <-tick:
			if !m.checkOmem(id, &over) {
				tick = nil
			}
		}
	}
}

// checkOmem reads the connection's omem with CLIENT LIST ID and ends the
// session past MaxOmem. It returns false when checking again is useless
// (the user may not run CLIENT LIST).
func (m *Monitor) checkOmem(id string, over *int) bool {
	timeout := m.target.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(m.ctx, timeout)
	defer cancel()
	args := []string{"client", "list", "id", id}
	text, err := m.opt.Client.Do(ctx, "client", "list", "id", id).Text()
	if err != nil {
		if m.ctx.Err() != nil {
			return false
		}
		var why string
		fe := refusal(FeatureClientList, err)
		if fe != nil {
			why = "no omem check: " + fe.Why
		} else {
			why = "omem check failed: " + conn.Explain(err, m.target).Error()
		}
		if isServerReply(err) {
			m.opt.Ledger.Bytes(m.opt.Node, int64(respLen(args)), int64(len(err.Error())+3))
			if !isRejected(err) {
				m.opt.Ledger.Call(m.opt.Node, "client|list", 1)
			}
		}
		m.mu.Lock()
		m.st.OmemErr = why
		m.mu.Unlock()
		return fe == nil
	}
	m.opt.Ledger.Call(m.opt.Node, "client|list", 1)
	m.opt.Ledger.Bytes(m.opt.Node, int64(respLen(args)), int64(len(strconv.Itoa(len(text)))+len(text)+5))
	cl := ParseClientList(text)
	if len(cl) == 0 {
		return true // gone: the reader is about to hear it
	}
	omem := cl[0].OMem
	m.mu.Lock()
	m.st.Omem = omem
	m.st.OmemPeak = max(m.st.OmemPeak, omem)
	m.st.OmemErr = ""
	m.mu.Unlock()
	if omemTrips(omem, m.opt.MaxOmem, over) {
		m.end(fmt.Sprintf("server output buffer for MONITOR reached %s: redtop is not keeping up", monitorMB(omem)))
	}
	return true
}

// omemTrips counts the checks in a row past limit and says whether the
// session must end: two in a row, or one past four times the limit.
func omemTrips(omem, limit int64, over *int) bool {
	if omem > limit {
		*over++
	} else {
		*over = 0
	}
	return *over >= 2 || omem > 4*limit
}

// monitorSeconds prints whole seconds as "60s", not "1m0s".
func monitorSeconds(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

// monitorMB prints a byte count in MiB, as redis.conf's "mb": "1.3 MB".
func monitorMB(n int64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
}

// OwnClientAddrs lists the addresses of the server's connections whose
// name starts with prefix (conn.ClientName, "redtop"), MONITOR sessions
// and unix socket clients excepted (MONITOR cannot tell those apart): for
// MonitorOptions.OwnAddrs. One CLIENT LIST, booked in ledger.
func OwnClientAddrs(ctx context.Context, c *redis.Client, node string, ledger *Ledger, prefix string) ([]string, error) {
	list, err := FetchClients(ctx, c, node, ledger)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, cl := range list {
		if strings.HasPrefix(cl.Name, prefix) && !strings.Contains(cl.Flags, "O") && !strings.Contains(cl.Flags, "U") {
			out = append(out, cl.Addr)
		}
	}
	return out, nil
}
