package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// seedBatch is how many commands Seed sends per pipeline.
const seedBatch = 500

// Seed writes the demo's starting population into c's database: 2,000
// sessions, 500 employee profiles and view counters, 20 list pages,
// dashboard figures, reference data, user preferences, the activity list,
// the online-users set and the leaderboard. The data is the same on every
// run; Seed overwrites and can run again. Remaining TTLs are spread, as if
// the site had been up for a while, so entries do not all expire at once.
func Seed(ctx context.Context, c *redis.Client) error {
	r := rand.New(rand.NewPCG(1, 2))
	s := &seeder{ctx: ctx, pipe: c.Pipeline()}
	seconds := func(lo, hi int) time.Duration { return time.Duration(lo+r.IntN(hi-lo+1)) * time.Second }

	for n := range uint64(seedSessions) {
		s.set(sessionKey(n), sessionValue(n), sessionTTL-seconds(0, 3*24*3600))
	}
	for id := 1; id <= hotEmployees; id++ {
		s.set(profileKey(id), newEmployee(id).profile(), seconds(30, int(cacheTTL/time.Second)))
		s.set(viewsKey(id), r.IntN(5000), 0)
	}
	for n := 1; n <= listPages; n++ {
		s.set(pageKey(n), listPage(n), seconds(30, int(cacheTTL/time.Second)))
	}
	for _, name := range statNames {
		s.set(statsKey(name), statValue(name, r), seconds(10, int(statsTTL/time.Second)))
	}
	for _, it := range settings() {
		s.set(settingsKey(it.K), it.V, 0)
	}
	s.set(departmentsKey, departmentList(), 0)

	for user := 1; user <= hotEmployees; user++ {
		s.do(func(p redis.Pipeliner) { p.HSet(ctx, prefsKey(user), prefs(user)...) })
	}
	now := time.Now()
	entries := make([]any, activityLen)
	for i := range entries {
		entries[i] = activity(r, now.Add(-time.Duration(i)*7*time.Second))
	}
	online := make([]any, 150)
	for i := range online {
		online[i] = strconv.Itoa(1 + r.IntN(allUsers))
	}
	board := make([]redis.Z, hotEmployees)
	for i := range board {
		board[i] = redis.Z{Member: strconv.Itoa(i + 1), Score: float64(r.IntN(500))}
	}
	s.do(func(p redis.Pipeliner) {
		p.Del(ctx, activityKey, onlineKey)
		p.RPush(ctx, activityKey, entries...)
		p.SAdd(ctx, onlineKey, online...)
		p.ZAdd(ctx, leaderboardKey, board...)
	})
	if err := s.flush(); err != nil {
		return fmt.Errorf("demo seed: %w", err)
	}
	return nil
}

// seeder queues commands and sends them a pipeline at a time, keeping the
// first error.
type seeder struct {
	ctx  context.Context
	pipe redis.Pipeliner
	err  error
}

// set queues SET of v encoded the django-redis way; ttl 0 keeps it forever.
func (s *seeder) set(key string, v any, ttl time.Duration) {
	if s.err != nil {
		return
	}
	b, err := encode(v)
	if err != nil {
		s.err = err
		return
	}
	s.do(func(p redis.Pipeliner) { p.Set(s.ctx, key, b, ttl) })
}

func (s *seeder) do(queue func(redis.Pipeliner)) {
	if s.err != nil {
		return
	}
	queue(s.pipe)
	if s.pipe.Len() >= seedBatch {
		s.flush()
	}
}

func (s *seeder) flush() error {
	if s.err == nil && s.pipe.Len() > 0 {
		s.err = cmdsErr(s.pipe.Exec(s.ctx))
	}
	return s.err
}

// cmdsErr is the first real error of a pipeline: a nil reply (redis.Nil,
// a cache miss) is not one.
func cmdsErr(cmds []redis.Cmder, err error) error {
	for _, c := range cmds {
		if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) {
			return fmt.Errorf("%s: %w", c.Name(), e)
		}
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	return nil
}
