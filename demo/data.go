package demo

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The demo plays an HR site ("Acme People") caching through django-redis
// with KEY_PREFIX "demo" and VERSION 1: every key is "demo:1:" followed by
// the key the Django code used.
const keyPrefix = "demo:1:"

// TTLs, as a Django settings module would set them.
const (
	sessionTTL = 14 * 24 * time.Hour // SESSION_COOKIE_AGE
	cacheTTL   = 300 * time.Second   // CACHES["default"]["TIMEOUT"]
	statsTTL   = 60 * time.Second    // the dashboard's own timeout
)

// The population Seed creates and Run reads.
const (
	seedSessions = 2000
	hotEmployees = 500 // cached profiles, users with prefs, leaderboard members
	pageSize     = 25
	listPages    = hotEmployees / pageSize
	allUsers     = 2000 // user ids that can be online
	activityLen  = 1000 // LTRIM bound of the activity list
)

const (
	departmentsKey = keyPrefix + "departments"
	activityKey    = keyPrefix + "activity:recent"
	onlineKey      = keyPrefix + "online_users"
	leaderboardKey = keyPrefix + "leaderboard"
	sessionPrefix  = keyPrefix + "django.contrib.sessions.cache"
)

func profileKey(id int) string       { return keyPrefix + "employee:" + strconv.Itoa(id) + ":profile" }
func viewsKey(id int) string         { return keyPrefix + "employee:" + strconv.Itoa(id) + ":views" }
func pageKey(n int) string           { return keyPrefix + "employees:list:page:" + strconv.Itoa(n) }
func statsKey(name string) string    { return keyPrefix + "dashboard:stats:" + name }
func settingsKey(name string) string { return keyPrefix + "settings:" + name }
func prefsKey(user int) string       { return keyPrefix + "user:" + strconv.Itoa(user) + ":prefs" }

// pageviewsKey is the per-minute page-view counter.
func pageviewsKey(t time.Time) string {
	return keyPrefix + "stats:pageviews:" + t.UTC().Format("200601021504")
}

// Session ids are Django's: 32 characters from lowercase letters and digits.
// They are derived from a number so Seed and Run agree on which exist;
// stale ids (cookies of sessions long gone) come from another salt.
const (
	sessionChars = "abcdefghijklmnopqrstuvwxyz0123456789"
	liveSalt     = 0x6c697665
	staleSalt    = 0x7374616c
)

func sessionKey(n uint64) string      { return sessionPrefix + sessionID(n, liveSalt) }
func staleSessionKey(n uint64) string { return sessionPrefix + sessionID(n, staleSalt) }

func sessionID(n, salt uint64) string {
	var b [32]byte
	x := n*0x9e3779b97f4a7c15 ^ salt<<32
	for i := range b {
		x = splitmix(x)
		b[i] = sessionChars[x%uint64(len(sessionChars))]
	}
	return string(b[:])
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	z := x
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// sessionValue is what django.contrib.sessions stores for a logged-in user.
func sessionValue(n uint64) dict {
	x := splitmix(n ^ 0x5e55)
	user := 1 + int(x%allUsers)
	var hash [64]byte
	for i := range hash {
		x = splitmix(x)
		hash[i] = "0123456789abcdef"[x%16]
	}
	d := dict{
		{"_auth_user_id", strconv.Itoa(user)},
		{"_auth_user_backend", "django.contrib.auth.backends.ModelBackend"},
		{"_auth_user_hash", string(hash[:])},
	}
	if x%3 == 0 {
		d = append(d, kv{"django_language", []string{"en", "de", "fr", "es"}[x%4]})
	}
	if x%5 == 0 {
		d = append(d, kv{"last_list_page", int(1 + x%listPages)})
	}
	return d
}

var (
	firstNames = []string{"Ada", "Ben", "Chloé", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
		"Kemi", "Liam", "Mara", "Nils", "Olga", "Pedro", "Qiu", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wen", "Yusuf", "Zoe"}
	lastNames = []string{"Adams", "Becker", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hansen", "Ivanova",
		"Jensen", "Kowalski", "Lopez", "Müller", "Nakamura", "Okafor", "Petrov", "Rossi", "Schmidt", "Tanaka", "Weber"}
	departments = []string{"Engineering", "Sales", "Marketing", "Finance", "People", "Legal", "Support", "Operations"}
	titles      = []string{"Associate", "Specialist", "Senior Specialist", "Lead", "Manager", "Director"}
	skills      = []string{"python", "django", "postgres", "redis", "negotiation", "excel", "payroll", "recruiting",
		"contracts", "kubernetes", "copywriting", "forecasting", "customer success", "sql", "figma"}
	words = strings.Fields(`team project customer quarterly roadmap launch budget hiring review process platform
		migration onboarding release partner support report analysis growth pipeline mentoring workshop
		strategy delivery quality security compliance audit campaign revenue training culture feedback
		improved led built shipped reduced scaled automated designed coordinated negotiated organised`)
)

// employee is one row of the HR database, derived from its id so every
// cache refill writes the same profile.
type employee struct {
	ID                       int
	First, Last, Title, Dept string
	Email, Bio               string
	Phone                    any // string or None
	Manager                  any // int or None
	Hired                    pyDate
	Salary                   int
	Rating                   float64
	Active                   bool
	Skills                   []any
}

func newEmployee(id int) employee {
	r := rand.New(rand.NewPCG(uint64(id), 0xe41))
	e := employee{
		ID:     id,
		First:  firstNames[r.IntN(len(firstNames))],
		Last:   lastNames[r.IntN(len(lastNames))],
		Dept:   departments[r.IntN(len(departments))],
		Title:  titles[r.IntN(len(titles))],
		Hired:  pyDate{2012 + r.IntN(13), 1 + r.IntN(12), 1 + r.IntN(28)},
		Salary: 42000 + 500*r.IntN(240),
		Rating: float64(25+r.IntN(26)) / 10,
		Active: r.IntN(25) != 0,
	}
	e.Email = strings.ToLower(e.First+"."+e.Last) + strconv.Itoa(id) + "@acme.example"
	if r.IntN(3) > 0 {
		e.Phone = fmt.Sprintf("+1-555-%04d", r.IntN(10000))
	}
	if id > 8 {
		e.Manager = 1 + r.IntN(min(id-1, 60))
	}
	for range 2 + r.IntN(4) {
		e.Skills = append(e.Skills, skills[r.IntN(len(skills))])
	}
	e.Bio = fmt.Sprintf("%s %s joined %s in %d.", e.First, e.Last, e.Dept, e.Hired.Y)
	bioLen := 60 + r.IntN(200)
	if r.IntN(5) == 0 { // a long bio: the profile goes over compressMin
		bioLen = 1200 + r.IntN(1500)
	}
	e.Bio += " " + prose(r, bioLen)
	return e
}

// prose is about n bytes of sentences from the word list.
func prose(r *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		k := 6 + r.IntN(9)
		for i := range k {
			w := words[r.IntN(len(words))]
			if i == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			} else {
				b.WriteByte(' ')
			}
			b.WriteString(w)
		}
		b.WriteString(". ")
	}
	return strings.TrimSpace(b.String())
}

// profile is the dict a profile view caches.
func (e employee) profile() dict {
	return dict{
		{"id", e.ID}, {"first_name", e.First}, {"last_name", e.Last}, {"email", e.Email},
		{"title", e.Title}, {"department", e.Dept}, {"manager_id", e.Manager},
		{"hire_date", e.Hired}, {"salary", pyDecimal(strconv.Itoa(e.Salary) + ".00")},
		{"rating", e.Rating}, {"is_active", e.Active}, {"phone", e.Phone},
		{"skills", e.Skills}, {"bio", e.Bio},
	}
}

// summary is one row of a list page.
func (e employee) summary() dict {
	return dict{
		{"id", e.ID}, {"name", e.First + " " + e.Last}, {"title", e.Title},
		{"department", e.Dept}, {"email", e.Email}, {"hire_date", e.Hired}, {"is_active", e.Active},
	}
}

// listPage is page n (from 1) of the employee list.
func listPage(n int) []any {
	rows := make([]any, 0, pageSize)
	for id := (n-1)*pageSize + 1; id <= n*pageSize; id++ {
		rows = append(rows, newEmployee(id).summary())
	}
	return rows
}

var statNames = []string{"headcount", "open_positions", "new_hires_30d", "payroll_total",
	"avg_tenure_years", "attrition_rate", "by_department", "active_sessions"}

// statValue is a fresh dashboard figure; ints end up as plain digits.
func statValue(name string, r *rand.Rand) any {
	switch name {
	case "headcount":
		return 480 + r.IntN(40)
	case "open_positions":
		return 10 + r.IntN(15)
	case "new_hires_30d":
		return r.IntN(20)
	case "payroll_total":
		return pyDecimal(fmt.Sprintf("%d.%02d", 38_000_000+r.IntN(2_000_000), r.IntN(100)))
	case "avg_tenure_years":
		return 3 + r.Float64()*2
	case "attrition_rate":
		return 0.05 + r.Float64()*0.1
	case "by_department":
		d := make(dict, len(departments))
		for i, dept := range departments {
			d[i] = kv{dept, 20 + r.IntN(100)}
		}
		return d
	default: // active_sessions
		return 1800 + r.IntN(400)
	}
}

// settings is the reference data kept without a TTL.
func settings() []kv {
	return []kv{
		{"site_name", "Acme People"},
		{"maintenance_mode", false},
		{"max_upload_mb", 25},
		{"default_timezone", "Europe/Berlin"},
		{"feature_flags", dict{{"new_org_chart", true}, {"pto_v2", false}, {"beta_reports", true}}},
		{"pagination", dict{{"page_size", pageSize}, {"max_page_size", 100}}},
	}
}

func departmentList() []any {
	out := make([]any, len(departments))
	for i, name := range departments {
		out[i] = dict{{"id", i + 1}, {"name", name}, {"head_id", 1 + i},
			{"cost_center", fmt.Sprintf("CC-%d", 1000+10*i)}, {"parent_id", nil}}
	}
	return out
}

// prefs are a user's preferences, as field/value pairs for HSET.
func prefs(user int) []any {
	x := splitmix(uint64(user) ^ 0x9ef5)
	return []any{
		"theme", []string{"light", "dark", "system"}[x%3],
		"language", []string{"en", "de", "fr", "es"}[x/3%4],
		"timezone", []string{"Europe/Berlin", "America/New_York", "Asia/Tokyo"}[x/12%3],
		"page_size", strconv.Itoa([]int{25, 50, 100}[x/36%3]),
		"email_notifications", strconv.Itoa(int(x / 108 % 2)),
	}
}

var actions = []string{"viewed", "edited", "commented on", "approved leave for", "exported"}

// activity is one entry of the recent-activity list, JSON as the app writes it.
func activity(r *rand.Rand, now time.Time) string {
	return fmt.Sprintf(`{"user": %d, "action": %q, "target": "employee:%d", "ts": %d}`,
		1+r.IntN(allUsers), actions[r.IntN(len(actions))], 1+r.IntN(hotEmployees), now.Unix())
}

// compressMin: pickles longer than this are zlib-compressed. django-redis's
// ZlibCompressor would compress anything over 15 bytes; the demo keeps
// small values readable and compresses the big ones.
const compressMin = 1024

var zlibWriters = sync.Pool{New: func() any {
	w, _ := zlib.NewWriterLevel(nil, 6) // django-redis's preset; 6 is always valid
	return w
}}

// encode returns v as django-redis stores it: an int as its digits,
// anything else pickled, and zlib-compressed when the pickle is long.
func encode(v any) ([]byte, error) {
	if i, ok := v.(int); ok {
		return strconv.AppendInt(nil, int64(i), 10), nil
	}
	b, err := pickleDumps(v)
	if err != nil || len(b) <= compressMin {
		return b, err
	}
	var out bytes.Buffer
	w := zlibWriters.Get().(*zlib.Writer)
	defer zlibWriters.Put(w)
	w.Reset(&out)
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
