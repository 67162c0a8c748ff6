package demo

import (
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// What the site sends. Reads meant to hit touch keys Seed created (or a
// refill brought back); reads meant to miss touch keys nobody cached. Only
// reads count as keyspace hits or misses on the server: the writes below
// all look keys up for writing, which Redis leaves out of those counters.
var (
	hitOps = []op{
		{40, (*workload).readSession},
		{30, (*workload).readProfile},
		{6, (*workload).readPage},
		{6, (*workload).readStat},
		{3, (*workload).readReference},
		{3, (*workload).readViews},
		{5, (*workload).readPrefs},
		{3, (*workload).readActivity},
		{2, (*workload).readLeaderboard},
		{2, (*workload).readOnline},
	}
	missOps = []op{
		{45, (*workload).readStaleSession},
		{45, (*workload).readColdProfile},
		{10, (*workload).readNoPrefs},
	}
	writeOps = []op{
		{20, (*workload).countPageview},
		{15, (*workload).countProfileView},
		{12, (*workload).addKudos},
		{8, (*workload).savePrefs},
		{10, (*workload).comeOnline},
		{10, (*workload).goOffline},
		{8, (*workload).logActivity},
		{8, (*workload).touchSession},
		{3, (*workload).login},
		{3, (*workload).logout},
		{2, (*workload).invalidatePage},
		{3, (*workload).editProfile},
	}
)

// Live sessions stay between these counts as users log in and out.
const (
	minSessions = seedSessions - 200
	maxSessions = seedSessions + 200
)

// get queues a GET; on a miss, refill (if any) sets the key back to
// value() for ttl (0: no expiry).
func (b *batch) get(key string, value func() any, ttl time.Duration) {
	rd := read{cmd: b.pipe.Get(b.ctx, key)}
	if value != nil {
		rd.refill = func(p redis.Pipeliner) error {
			v, err := encode(value())
			if err == nil {
				p.Set(b.ctx, key, v, ttl)
			}
			return err
		}
	}
	b.reads = append(b.reads, rd)
	b.n++
}

// set queues a SET of value, encoded the django-redis way.
func (b *batch) set(key string, value any, ttl time.Duration) error {
	v, err := encode(value)
	if err != nil {
		return err
	}
	b.pipe.Set(b.ctx, key, v, ttl)
	b.n++
	return nil
}

func (w *workload) liveSession() uint64 { return w.sessLo + w.r.Uint64N(w.sessHi-w.sessLo) }
func (w *workload) hotEmployee() int    { return 1 + w.r.IntN(hotEmployees) }
func (w *workload) anyUser() string     { return strconv.Itoa(1 + w.r.IntN(allUsers)) }

// Reads meant to hit.

func (w *workload) readSession(b *batch) error {
	n := w.liveSession()
	b.get(sessionKey(n), func() any { return sessionValue(n) }, sessionTTL)
	return nil
}

func (w *workload) readProfile(b *batch) error {
	id := w.hotEmployee()
	b.get(profileKey(id), func() any { return newEmployee(id).profile() }, cacheTTL)
	return nil
}

func (w *workload) readPage(b *batch) error {
	n := 1 + w.r.IntN(listPages)
	b.get(pageKey(n), func() any { return listPage(n) }, cacheTTL)
	return nil
}

func (w *workload) readStat(b *batch) error {
	name := statNames[w.r.IntN(len(statNames))]
	b.get(statsKey(name), func() any { return statValue(name, w.r) }, statsTTL)
	return nil
}

func (w *workload) readReference(b *batch) error {
	if w.r.IntN(3) == 0 {
		b.get(departmentsKey, func() any { return departmentList() }, 0)
		return nil
	}
	s := settings()
	it := s[w.r.IntN(len(s))]
	b.get(settingsKey(it.K), func() any { return it.V }, 0)
	return nil
}

func (w *workload) readViews(b *batch) error {
	b.get(viewsKey(w.hotEmployee()), func() any { return 0 }, 0)
	return nil
}

func (w *workload) readPrefs(b *batch) error {
	user := w.hotEmployee()
	key := prefsKey(user)
	b.reads = append(b.reads, read{
		cmd: b.pipe.HGetAll(b.ctx, key),
		refill: func(p redis.Pipeliner) error {
			p.HSet(b.ctx, key, prefs(user)...)
			return nil
		},
	})
	b.n++
	return nil
}

func (w *workload) readActivity(b *batch) error {
	b.pipe.LRange(b.ctx, activityKey, 0, 19)
	b.n++
	return nil
}

func (w *workload) readLeaderboard(b *batch) error {
	b.pipe.ZRevRangeWithScores(b.ctx, leaderboardKey, 0, 9)
	b.n++
	return nil
}

func (w *workload) readOnline(b *batch) error {
	b.pipe.SCard(b.ctx, onlineKey)
	b.n++
	return nil
}

// Reads meant to miss.

// readStaleSession is a browser sending the cookie of a session that is
// gone: Django serves it anonymously and caches nothing.
func (w *workload) readStaleSession(b *batch) error {
	w.stale++
	b.get(staleSessionKey(w.stale), nil, 0)
	return nil
}

// readColdProfile views an employee nobody viewed lately; the profile is
// cached for the next visitor.
func (w *workload) readColdProfile(b *batch) error {
	id := w.cold
	if w.cold++; w.cold > coldLast {
		w.cold = coldFirst
	}
	b.get(profileKey(id), func() any { return newEmployee(id).profile() }, cacheTTL)
	return nil
}

// readNoPrefs loads the preferences of a user who never saved any: the app
// falls back to defaults without writing them.
func (w *workload) readNoPrefs(b *batch) error {
	b.pipe.HGetAll(b.ctx, prefsKey(hotEmployees+1+w.r.IntN(coldLast)))
	b.n++
	return nil
}

// Writes.

func (w *workload) countPageview(b *batch) error {
	key := pageviewsKey(w.now)
	b.pipe.Incr(b.ctx, key)
	b.n++
	if key != w.minute { // a new minute's counter: give it an hour
		b.pipe.Expire(b.ctx, key, time.Hour)
		b.n++
		w.minute = key
	}
	return nil
}

func (w *workload) countProfileView(b *batch) error {
	b.pipe.Incr(b.ctx, viewsKey(w.hotEmployee()))
	b.n++
	return nil
}

func (w *workload) addKudos(b *batch) error {
	b.pipe.ZIncrBy(b.ctx, leaderboardKey, float64(1+w.r.IntN(5)), strconv.Itoa(w.hotEmployee()))
	b.n++
	return nil
}

func (w *workload) savePrefs(b *batch) error {
	field, values := "theme", []string{"light", "dark", "system"}
	if w.r.IntN(2) == 0 {
		field, values = "page_size", []string{"25", "50", "100"}
	}
	b.pipe.HSet(b.ctx, prefsKey(w.hotEmployee()), field, values[w.r.IntN(len(values))])
	b.n++
	return nil
}

func (w *workload) comeOnline(b *batch) error {
	b.pipe.SAdd(b.ctx, onlineKey, w.anyUser())
	b.n++
	return nil
}

func (w *workload) goOffline(b *batch) error {
	b.pipe.SRem(b.ctx, onlineKey, w.anyUser())
	b.n++
	return nil
}

func (w *workload) logActivity(b *batch) error {
	b.pipe.LPush(b.ctx, activityKey, activity(w.r, w.now))
	b.pipe.LTrim(b.ctx, activityKey, 0, activityLen-1)
	b.n += 2
	return nil
}

// touchSession saves a modified session: SET with a fresh two weeks.
func (w *workload) touchSession(b *batch) error {
	n := w.liveSession()
	return b.set(sessionKey(n), sessionValue(n), sessionTTL)
}

func (w *workload) login(b *batch) error {
	n := w.sessHi
	w.sessHi++
	if w.sessHi-w.sessLo > maxSessions {
		w.endOldestSession(b)
	}
	return b.set(sessionKey(n), sessionValue(n), sessionTTL)
}

func (w *workload) logout(b *batch) error {
	if w.sessHi-w.sessLo <= minSessions {
		return w.login(b)
	}
	w.endOldestSession(b)
	return nil
}

func (w *workload) endOldestSession(b *batch) {
	b.pipe.Del(b.ctx, sessionKey(w.sessLo))
	b.n++
	w.sessLo++
}

// invalidatePage drops a list page after an edit; the next reader rebuilds it.
func (w *workload) invalidatePage(b *batch) error {
	b.pipe.Del(b.ctx, pageKey(1+w.r.IntN(listPages)))
	b.n++
	return nil
}

// editProfile saves an employee and writes the fresh profile to the cache.
func (w *workload) editProfile(b *batch) error {
	id := w.hotEmployee()
	return b.set(profileKey(id), newEmployee(id).profile(), cacheTTL)
}
