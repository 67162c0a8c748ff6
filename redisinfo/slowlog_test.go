package redisinfo

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSlowCommand(t *testing.T) {
	long := strings.Repeat("v", 128)
	many := make([]string, 31)
	for i := range many {
		many[i] = "a"
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"plain", []string{"GET", "user:1"}, "GET user:1"},
		{"space is quoted", []string{"SET", "k", "hello world"}, `SET k "hello world"`},
		{"empty is quoted", []string{"SET", "k", ""}, `SET k ""`},
		{"quote inside", []string{"SET", "k", `say "hi"`}, `SET k "say \"hi\""`},
		{"lone quote", []string{"SET", `"`, "v"}, `SET "\"" v`},
		{"binary", []string{"SET", "k\x1b\xff\n", "v"}, `SET k\x1b\xff\n v`},
		{"backslash", []string{"GET", `a\b`}, `GET a\\b`},
		{"terminal escape cannot leak", []string{"GET", "\x1b[2J\x1b]0;pwned\x07"}, `GET \x1b[2J\x1b]0;pwned\x07`},
		{"bidi control", []string{"GET", "a\u202eb"}, `GET a\u202eb`},
		{"unicode as is", []string{"GET", "ключ:🔑"}, "GET ключ:🔑"},
		{"cut argument", []string{"SET", "k", long + "... (72 more bytes)"}, "SET k " + long + "… (72 more bytes)"},
		{"cut argument with a space", []string{"SET", "k", "a " + long[2:] + "... (1 more bytes)"}, `SET k "a ` + long[2:] + `"… (1 more bytes)`},
		{"not a cut mark", []string{"SET", "k", "x... (72 more bytes)"}, `SET k "x... (72 more bytes)"`},
		{"cut arguments", append(append([]string{}, many...), "... (8 more arguments)"), strings.Repeat("a ", 31) + "… (8 more arguments)"},
		{"no arguments", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slowCommand(tt.args); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseSlowlogShapes(t *testing.T) {
	v := []any{
		[]any{int64(7), int64(1700000000), int64(15000), []any{"SET", "k", "v"}, "127.0.0.1:5000", "app\x1b"},
		[]any{int64(6), int64(1700000000), int64(20), []any{"GET", "k"}}, // Redis 3: no client fields
		[]any{int64(5), "not a time", int64(1), []any{"X"}},              // malformed: skipped
		"garbage",
		[]any{int64(4)},
	}
	got := parseSlowlog(v)
	if len(got) != 2 {
		t.Fatalf("%d entries: %+v", len(got), got)
	}
	e := got[0]
	if e.ID != 7 || e.Duration != 15*time.Millisecond || !e.Time.Equal(time.Unix(1700000000, 0)) ||
		e.Command != "SET k v" || !slices.Equal(e.Args, []string{"SET", "k", "v"}) ||
		e.ClientAddr != "127.0.0.1:5000" || e.ClientName != `app\x1b` {
		t.Errorf("%+v", e)
	}
	if got[1].ClientAddr != "" || got[1].Duration != 20*time.Microsecond {
		t.Errorf("%+v", got[1])
	}
}

func slowIDs(ids ...int64) []SlowEntry {
	es := make([]SlowEntry, len(ids))
	for i, id := range ids {
		es[i] = SlowEntry{ID: id}
	}
	return es
}

func newOnes(es []SlowEntry) []int64 {
	var out []int64
	for _, e := range es {
		if e.New {
			out = append(out, e.ID)
		}
	}
	return out
}

func TestSlowlogSeen(t *testing.T) {
	var s SlowlogSeen
	steps := []struct {
		name   string
		ids    []int64
		see    bool
		want   []int64
		wantN  int
		before bool // call See before Mark
	}{
		{name: "what is there at start is not news", ids: []int64{12, 11, 10}, want: nil},
		{name: "new entries", ids: []int64{14, 13, 12, 11}, want: []int64{14, 13}, wantN: 2},
		{name: "still new until seen", ids: []int64{15, 14, 13}, want: []int64{15, 14, 13}, wantN: 3},
		{name: "seen", ids: []int64{15, 14, 13}, before: true, want: nil},
		{name: "after a reset, ids go on", ids: []int64{16}, want: []int64{16}, wantN: 1},
		{name: "empty log", ids: nil, want: nil},
		{name: "server restarted: ids start over", ids: []int64{1, 0}, want: []int64{1, 0}, wantN: 2},
		{name: "seen after the restart", ids: []int64{2, 1, 0}, before: true, want: nil},
		{name: "and then", ids: []int64{3, 2}, want: []int64{3}, wantN: 1},
	}
	for _, st := range steps {
		es := slowIDs(st.ids...)
		if st.before {
			s.See(es)
		}
		n := s.Mark(es)
		if got := newOnes(es); n != st.wantN || !slices.Equal(got, st.want) {
			t.Errorf("%s: %d new %v, want %d %v", st.name, n, got, st.wantN, st.want)
		}
	}

	var fresh SlowlogSeen
	fresh.See(nil) // looked at an empty pane: whatever comes is new
	if n := fresh.Mark(slowIDs(0)); n != 1 {
		t.Errorf("first entry after looking at an empty log: %d new", n)
	}
}

func TestRefusal(t *testing.T) {
	tests := []struct {
		feature Feature
		err     error
		kind    error
		why     string
	}{
		{FeatureConfigGet, errors.New("NOPERM this user has no permissions to run the 'config|get' command"), ErrNotAllowed, "needs +config|get"},
		{FeatureMonitor, errors.New("NOPERM User mon has no permissions to run the 'monitor' command"), ErrNotAllowed, "needs +monitor"},
		{FeatureSlowlogGet, errors.New("monitor: NOPERM no permissions"), ErrNotAllowed, "needs +slowlog|get"},
		{FeatureSlowlogGet, errors.New("ERR unknown command 'slowlog', with args beginning with: 'get' "), ErrUnavailable, "SLOWLOG is disabled or renamed on this server"},
		{FeatureClientList, errors.New("ERR Command 'client' not found"), ErrUnavailable, "CLIENT is disabled or renamed on this server"},
		{FeatureClientKill, errors.New("ERR unknown subcommand 'kill'. Try CLIENT HELP."), ErrUnavailable, "CLIENT KILL is not supported by this server"},
		{FeatureClientList, errors.New("i/o timeout"), nil, ""},
		{FeatureClientList, errors.New("ERR no such client"), nil, ""},
	}
	for _, tt := range tests {
		fe := refusal(tt.feature, tt.err)
		if tt.kind == nil {
			if fe != nil {
				t.Errorf("%v: %v", tt.err, fe)
			}
			continue
		}
		if fe == nil || fe.Why != tt.why || !errors.Is(fe, tt.kind) || !errors.Is(fe, tt.err) {
			t.Errorf("%v: %+v", tt.err, fe)
		}
	}
}
