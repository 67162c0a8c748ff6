package keys

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Write lanes: an unpaced run on one server keeps two batches in flight,
// each on a write connection of its own, so the server works on one while
// redtop reads the other's replies and journals them. With one batch at a
// time the server sat idle for that part of each round trip: on 1M keys
// (400k matching) it was busy 85% of an expire run. Each lane sends its
// batches as a run with one connection does (see bulkRun.batch): a batch
// is one round trip, never resent, and the run stops at the first
// failure, after the other lane's batch in flight. A cut connection can
// so leave two batches unknown instead of one.
//
// Auto pacing keeps one batch at a time: it exists to leave the server to
// the other clients. A cluster run does not split its masters' parts:
// they already run side by side.

// writeLanes is the number of batches an unpaced run on one server keeps
// in flight.
const writeLanes = 2

// errLaneStopped ends the scan of a run whose lane stopped; the lane's
// error is the run's.
var errLaneStopped = errors.New("keys: a write lane stopped")

// lanes hand a run's batches to its write lanes.
type lanes struct {
	run  *bulkRun // the run they write for
	runs []*bulkRun
	work chan []string
	halt chan struct{} // closed when a lane stops the run
	once sync.Once
	wg   sync.WaitGroup

	mu    sync.Mutex // guards what follows: progress, from every goroutine
	scan  BulkReport // the scan's counts (Scanned, Matched), from the run's goroutine
	frac  float64
	done  []BulkReport // each lane's counts as of its last batch
	first int          // the lane whose stop stopped the run; -1 while none did
}

// openLanes gives r writeLanes lanes: the first writes on r's connection,
// the others on new ones dialled like it. A connection that cannot be
// opened leaves the run with fewer lanes (a server at maxclients still
// takes the run, one batch at a time).
func (r *bulkRun) openLanes(ctx context.Context, writer *redis.Client) {
	l := &lanes{run: r, work: make(chan []string), halt: make(chan struct{}), first: -1}
	for i := range writeLanes {
		rt := r.rt
		if i > 0 {
			w, err := dialWriter(ctx, writer, r.opt.Timeout)
			if err != nil {
				break
			}
			w.book(r.opt.Ledger, r.opt.Node)
			rt = newRouter(r.opt.Node, w, r.opt.Ledger, r.opt.Abort)
		}
		lane := newBulkRun(r.opt, r.files, r.start, nil)
		lane.rt, lane.pace, lane.nx = rt, r.pace, r.nx
		lane.lanes, lane.lane = l, i
		l.runs = append(l.runs, lane)
	}
	if len(l.runs) < 2 {
		return
	}
	l.done = make([]BulkReport, len(l.runs))
	r.lanes, r.lane = l, -1
}

// closeLanes closes the connections the lanes opened (the first lane's
// is the run's own).
func (r *bulkRun) closeLanes() {
	if r.lanes == nil {
		return
	}
	for _, lane := range r.lanes.runs[1:] {
		lane.rt.close()
	}
}

// start runs each lane on a goroutine of its own.
func (l *lanes) start(ctx context.Context) {
	for _, lane := range l.runs {
		l.wg.Go(func() {
			for keys := range l.work {
				select {
				case <-l.halt:
					lane.unsent = append(lane.unsent, keys...)
					continue
				default:
				}
				if err := lane.batch(ctx, keys); err != nil {
					l.once.Do(func() { l.first = lane.lane; close(l.halt) })
				}
			}
		})
	}
}

// hand gives keys to the next free lane; once a lane has stopped the run,
// it keeps them with r's unsent keys instead.
func (l *lanes) hand(r *bulkRun, keys []string) error {
	select {
	case <-l.halt:
	default:
		select {
		case l.work <- keys:
			return nil
		case <-l.halt:
		}
	}
	r.unsent = append(r.unsent, keys...)
	return errLaneStopped
}

// finish waits for the lanes' last batches and books what they did in
// r, with why the run stopped: the first lane's reason, or a later one's
// when the first was only cancelled (a connection lost says more).
func (l *lanes) finish(r *bulkRun) {
	close(l.work)
	l.wg.Wait()
	var stop *bulkRun
	for _, lane := range l.runs {
		rep := lane.rep
		r.rep.addCounts(rep)
		r.unsent = append(r.unsent, lane.unsent...)
		r.seq = max(r.seq, lane.seq)
		if lane.stopErr != nil && (stop == nil || stop.rep.Stopped == "cancelled" && rep.Stopped != "cancelled") {
			stop = lane
		}
	}
	if first := l.first; first >= 0 && (stop == nil || l.runs[first].rep.Stopped != "cancelled") {
		stop = l.runs[first]
	}
	if stop != nil {
		r.stopErr = stop.stopErr
		if r.rep.Stopped == "" {
			r.rep.Stopped = stop.rep.Stopped
		}
	}
}

// report takes in the counts of r (the run's scan, or a lane after a
// batch) and calls the run's progress, at most 20 times a second, with
// the sum.
func (l *lanes) report(r *bulkRun) {
	run := l.run
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.lane < 0 {
		l.scan, l.frac = *r.rep, r.fraction
	} else {
		l.done[r.lane] = *r.rep
	}
	if run.progress == nil || time.Since(run.lastRep) < 50*time.Millisecond {
		return
	}
	run.lastRep = time.Now()
	sum := l.scan
	for i := range l.done {
		sum.addCounts(&l.done[i])
	}
	run.progress(run.progressOf(&sum, l.frac))
}
