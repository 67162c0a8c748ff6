package demo

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
	"redtop/internal/redisproc"
)

// newServer starts a private server and returns a client on the demo's DB.
func newServer(t *testing.T) (*redisproc.Server, *redis.Client) {
	t.Helper()
	srv := redisproc.ForTest(t, redisproc.Options{Unix: true, Args: serverArgs})
	target := conn.Target{Network: srv.Network(), Addr: srv.Addr(), DB: demoDB, Timeout: 2 * time.Second}
	c := redis.NewClient(workloadOptions(target))
	t.Cleanup(func() { c.Close() })
	return srv, c
}

func seeded(t *testing.T) (*redisproc.Server, *redis.Client) {
	t.Helper()
	srv, c := newServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := Seed(ctx, c); err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestSeed(t *testing.T) {
	_, c := seeded(t)
	ctx := t.Context()

	n, err := c.DBSize(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if min := int64(seedSessions + 2*hotEmployees + listPages); n < min {
		t.Errorf("DBSIZE %d, want at least %d", n, min)
	}
	if !regexp.MustCompile(`^demo:1:django\.contrib\.sessions\.cache[a-z0-9]{32}$`).MatchString(sessionKey(7)) {
		t.Errorf("session key %q is not Django's shape", sessionKey(7))
	}

	day := 24 * time.Hour
	for _, tc := range []struct {
		key    string
		lo, hi time.Duration // TTL bounds; -1 for none
	}{
		{sessionKey(0), 10 * day, 14 * day},
		{sessionKey(seedSessions - 1), 10 * day, 14 * day},
		{profileKey(1), time.Second, cacheTTL},
		{profileKey(hotEmployees), time.Second, cacheTTL},
		{pageKey(1), time.Second, cacheTTL},
		{statsKey("headcount"), time.Second, statsTTL},
		{departmentsKey, -1, -1},
		{settingsKey("site_name"), -1, -1},
		{viewsKey(1), -1, -1},
		{prefsKey(1), -1, -1},
		{activityKey, -1, -1},
		{onlineKey, -1, -1},
		{leaderboardKey, -1, -1},
	} {
		ttl, err := c.TTL(ctx, tc.key).Result()
		if err != nil {
			t.Fatalf("TTL %s: %v", tc.key, err)
		}
		if ttl < tc.lo || ttl > tc.hi {
			t.Errorf("TTL %s = %v, want %v..%v", tc.key, ttl, tc.lo, tc.hi)
		}
	}

	for key, want := range map[string]string{
		prefsKey(1): "hash", activityKey: "list", onlineKey: "set", leaderboardKey: "zset", pageKey(1): "string",
	} {
		if got := c.Type(ctx, key).Val(); got != want {
			t.Errorf("TYPE %s = %q, want %q", key, got, want)
		}
	}
	if l := c.LLen(ctx, activityKey).Val(); l != activityLen {
		t.Errorf("LLEN activity = %d, want %d", l, activityLen)
	}

	// django-redis storage: ints as digits, small pickles raw, big ones zlib.
	views := get(t, c, viewsKey(1))
	if !regexp.MustCompile(`^[0-9]+$`).Match(views) {
		t.Errorf("views counter %q is not plain digits", views)
	}
	if b := get(t, c, sessionKey(0)); !strings.HasPrefix(string(b), "\x80\x04") {
		t.Errorf("session value %q is not an uncompressed pickle", b)
	}
	if b := get(t, c, pageKey(1)); !isZlib(b) {
		t.Errorf("list page %q… is not zlib", b[:min(len(b), 8)])
	}
	compressed := 0
	for id := 1; id <= hotEmployees; id++ {
		if isZlib(get(t, c, profileKey(id))) {
			compressed++
		}
	}
	if compressed < hotEmployees/20 || compressed > hotEmployees/2 {
		t.Errorf("%d of %d profiles compressed, want some but not most", compressed, hotEmployees)
	}
}

func TestSeedDecodesInPython(t *testing.T) {
	python := needPython(t)
	_, c := seeded(t)
	var bigProfile string
	for id := 1; bigProfile == ""; id++ {
		if isZlib(get(t, c, profileKey(id))) {
			bigProfile = profileKey(id)
		}
	}
	cases := []struct{ key, want string }{
		{sessionKey(0), "'_auth_user_backend': 'django.contrib.auth.backends.ModelBackend'"},
		{profileKey(1), "'hire_date': datetime.date("},
		{bigProfile, "'salary': Decimal('"},
		{pageKey(2), "[{'id': 26, 'name': "},
		{departmentsKey, "{'id': 1, 'name': 'Engineering'"},
		{settingsKey("feature_flags"), "{'new_org_chart': True, 'pto_v2': False"},
		{settingsKey("max_upload_mb"), "25"},
		{statsKey("by_department"), "{'Engineering': "},
	}
	values := make([][]byte, len(cases))
	for i, tc := range cases {
		values[i] = get(t, c, tc.key)
	}
	for i, got := range pyDecode(t, python, values) {
		if !strings.Contains(got, cases[i].want) {
			t.Errorf("%s decodes to %.200s, want it to contain %s", cases[i].key, got, cases[i].want)
		}
	}
}

func get(t *testing.T, c *redis.Client, key string) []byte {
	t.Helper()
	b, err := c.Get(t.Context(), key).Bytes()
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	return b
}

// isZlib: zlib.compress(…, 6) output starts 0x78 0x9c.
func isZlib(b []byte) bool { return len(b) > 2 && b[0] == 0x78 && b[1] == 0x9c }
