package redisinfo

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func readClientCapture(t *testing.T) []Client {
	t.Helper()
	b, err := os.ReadFile(clientListCapture)
	if err != nil {
		t.Fatal(err)
	}
	return ParseClientList(string(b))
}

func clientNamed(t *testing.T, cs []Client, name string) Client {
	t.Helper()
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no client named %q", name)
	return Client{}
}

func TestParseClientListCaptured(t *testing.T) {
	cs := readClientCapture(t)
	if len(cs) != 13 {
		t.Fatalf("%d clients, want 13", len(cs))
	}
	for _, c := range cs {
		for _, f := range []string{"id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub", "ssub", "multi",
			"qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs", "rbp", "obl", "oll", "omem", "tot-mem", "events", "cmd", "user", "redir", "resp"} {
			if !c.Has(f) {
				t.Errorf("client %d lacks %s", c.ID, f)
			}
		}
		if c.Has("lib-name") || len(c.Extra) != 0 {
			t.Errorf("client %d: lib-name %v, extra %v", c.ID, c.Has("lib-name"), c.Extra)
		}
		if c.Age != 2*time.Second || c.Events != "r" || c.TotMem < 20000 {
			t.Errorf("client %d: age %v events %q tot-mem %d", c.ID, c.Age, c.Events, c.TotMem)
		}
	}
	tests := []struct {
		name  string
		check func(c Client) bool
	}{
		{"app-worker", func(c Client) bool {
			return c.Flags == "x" && c.DB == 2 && c.Multi == 2 && c.MultiMem == 50 && c.Cmd == "incr"
		}},
		{"app-sub", func(c Client) bool { return c.Flags == "P" && c.Sub == 2 && c.PSub == 0 && c.Cmd == "subscribe" }},
		{"app-psub", func(c Client) bool { return c.Flags == "P" && c.PSub == 1 }},
		{"app-ssub", func(c Client) bool { return c.Flags == "P" && c.SSub == 1 }},
		{"app-blocked", func(c Client) bool { return c.Flags == "b" && c.Cmd == "blpop" && c.ArgvMem == 17 }},
		{"app-resp3", func(c Client) bool { return c.Flags == "t" && c.Resp == 3 && c.Redir == 0 }},
		{"app-unix", func(c Client) bool {
			return c.Flags == "U" && strings.HasSuffix(c.Addr, "/redis.sock:0") && c.Addr == c.LAddr
		}},
		{"dashboard", func(c Client) bool { return c.User == "mon" && c.Cmd == "client|setname" && !c.Own }},
		{"redtop", func(c Client) bool { return c.Own && c.Cmd == "info" }},
		{"redtop-monitor", func(c Client) bool { return c.Own && c.Flags == "O" && c.Cmd == "monitor" }},
		{"test-admin", func(c Client) bool {
			return !c.Own && c.Cmd == "client|list" && c.QBuf == 26 && c.Idle == 0 && c.Redir == -1 && c.Resp == 2
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c := clientNamed(t, cs, tt.name); !tt.check(c) {
				t.Errorf("%+v", c)
			}
		})
	}
	var replica, anon int
	for _, c := range cs {
		if c.Name == "" && c.Flags == "S" && c.Cmd == "psync" {
			replica++
		}
		if c.Name == "" && c.Flags == "N" && c.Cmd == "ping" && c.Multi == -1 {
			anon++
		}
	}
	if replica != 1 || anon != 1 {
		t.Errorf("replica %d, anonymous %d", replica, anon)
	}
}

// Lines in other versions' formats, written from their client.c.
func TestParseClientListVersions(t *testing.T) {
	tests := []struct {
		version string
		line    string
		want    Client
		absent  []string
		extra   []ClientField
	}{
		{version: "5.0",
			line: "id=3 addr=127.0.0.1:50188 fd=8 name=web age=12 idle=3 flags=N db=0 sub=0 psub=0 multi=-1 qbuf=26 qbuf-free=32742 obl=0 oll=0 omem=0 events=r cmd=client\n",
			want: Client{ID: 3, Addr: "127.0.0.1:50188", FD: 8, Name: "web", Age: 12 * time.Second, Idle: 3 * time.Second, Flags: "N",
				Multi: -1, QBuf: 26, QBufFree: 32742, Events: "r", Cmd: "client"},
			absent: []string{"laddr", "user", "argv-mem", "tot-mem", "redir", "resp", "ssub", "multi-mem", "rbs", "rbp"}},
		{version: "6.0",
			line: "id=7 addr=10.0.0.5:6000 fd=9 name= age=1 idle=1 flags=b db=3 sub=0 psub=0 multi=-1 qbuf=0 qbuf-free=0 obl=0 oll=0 omem=0 events=r cmd=blpop user=app",
			want: Client{ID: 7, Addr: "10.0.0.5:6000", FD: 9, Age: time.Second, Idle: time.Second, Flags: "b", DB: 3,
				Multi: -1, Events: "r", Cmd: "blpop", User: "app"},
			absent: []string{"laddr", "resp", "tot-mem"}},
		{version: "6.2",
			line: "id=9 addr=[::1]:41000 laddr=[::1]:6379 fd=10 name=redtop age=0 idle=0 flags=N db=0 sub=0 psub=0 multi=-1 qbuf=0 qbuf-free=40954 argv-mem=0 obl=0 oll=0 omem=0 tot-mem=61466 events=r cmd=info user=default redir=-1\r\n",
			want: Client{ID: 9, Addr: "[::1]:41000", LAddr: "[::1]:6379", FD: 10, Name: "redtop", Flags: "N", Multi: -1,
				QBufFree: 40954, TotMem: 61466, Events: "r", Cmd: "info", User: "default", Redir: -1, Own: true},
			absent: []string{"resp", "ssub", "rbs"}},
		{version: "7.2",
			line: "id=5 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=8 name= age=0 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=20448 argv-mem=10 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22298 events=r cmd=client|list user=default redir=-1 resp=2 lib-name=redis-py lib-ver=5.0.1",
			want: Client{ID: 5, Addr: "127.0.0.1:5000", LAddr: "127.0.0.1:6379", FD: 8, Flags: "N", Multi: -1, QBuf: 26, QBufFree: 20448,
				ArgvMem: 10, RBS: 1024, TotMem: 22298, Events: "r", Cmd: "client|list", User: "default", Redir: -1, Resp: 2,
				LibName: "redis-py", LibVer: "5.0.1"}},
		{version: "8.x",
			line: "id=5 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=8 name=redtop-monitor age=0 idle=0 flags=O db=0 sub=0 psub=0 ssub=0 multi=-1 watch=0 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=2000 events=r cmd=monitor user=default redir=-1 resp=2 lib-name= lib-ver= io-thread=0 tot-net-in=120 tot-net-out=9000 tot-cmds=4",
			want: Client{ID: 5, Addr: "127.0.0.1:5000", LAddr: "127.0.0.1:6379", FD: 8, Name: "redtop-monitor", Flags: "O", Multi: -1,
				RBS: 1024, TotMem: 2000, Events: "r", Cmd: "monitor", User: "default", Redir: -1, Resp: 2, Own: true},
			extra: []ClientField{{"watch", "0"}, {"io-thread", "0"}, {"tot-net-in", "120"}, {"tot-net-out", "9000"}, {"tot-cmds", "4"}}},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			cs := ParseClientList(tt.line)
			if len(cs) != 1 {
				t.Fatalf("%d clients", len(cs))
			}
			got := cs[0]
			if !slices.Equal(got.Extra, tt.extra) {
				t.Errorf("extra %v, want %v", got.Extra, tt.extra)
			}
			for _, f := range tt.absent {
				if got.Has(f) {
					t.Errorf("Has(%s) on a %s line", f, tt.version)
				}
			}
			got.Extra, got.has = nil, 0
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseClientListOddInput(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []Client
	}{
		{"empty", "", nil},
		{"blank lines", "\n\n", nil},
		{"no id", "addr=1.2.3.4:5 name=x\n", nil},
		{"bad numbers are left unset", "id=1 age=soon db=x omem=-\n", []Client{{ID: 1, Multi: -1}}},
		{"path with a space", "id=2 addr=/tmp/my dir/redis.sock:0 fd=3 name=a\n",
			[]Client{{ID: 2, Addr: "/tmp/my dir/redis.sock:0", FD: 3, Name: "a", Multi: -1}}},
		{"double spaces and no newline", "id=4  name=b", []Client{{ID: 4, Name: "b", Multi: -1}}},
		{"value with =", "id=5 name=a=b", []Client{{ID: 5, Name: "a=b", Multi: -1}}},
		{"two lines", "id=6\nid=7\n", []Client{{ID: 6, Multi: -1}, {ID: 7, Multi: -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseClientList(tt.text)
			for i := range got {
				got[i].has = 0
			}
			if len(got) != len(tt.want) || (len(got) > 0 && !slices.EqualFunc(got, tt.want, func(a, b Client) bool {
				return a.ID == b.ID && a.Addr == b.Addr && a.Name == b.Name && a.FD == b.FD && a.Age == b.Age && a.DB == b.DB && a.Multi == b.Multi
			})) {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestClientValue(t *testing.T) {
	c := ParseClientList("id=9 addr=1.2.3.4:5 name=we\x1bird age=61 idle=2 db=3 resp=3 io-thread=1")[0]
	tests := map[string]string{
		"id": "9", "addr": "1.2.3.4:5", "name": `we\x1bird`, "age": "61", "db": "3", "resp": "3",
		"io-thread": "1", "user": "", "nonsense": "",
	}
	for col, want := range tests {
		if got := c.Value(col); got != want {
			t.Errorf("Value(%q) = %q, want %q", col, got, want)
		}
	}
}

func FuzzParseClientList(f *testing.F) {
	if b, err := os.ReadFile(clientListCapture); err == nil {
		f.Add(string(b))
	}
	f.Add("id=3 addr=127.0.0.1:50188 fd=8 name= age=0 idle=0 flags=N db=0 sub=0 psub=0 multi=-1 qbuf=26 qbuf-free=32742 obl=0 oll=0 omem=0 events=r cmd=client\n")
	f.Add("id=1 x y= =z name=a b\r\nid=\n")
	f.Fuzz(func(t *testing.T, text string) {
		cs := ParseClientList(text)
		if len(cs) > strings.Count(text, "\n")+1 {
			t.Fatalf("%d clients from %d lines", len(cs), strings.Count(text, "\n")+1)
		}
		cols := append(ClientColumns(), "extra")
		for i := range cs {
			if !cs[i].Has("id") {
				t.Fatalf("client without id: %+v", cs[i])
			}
			for _, col := range cols {
				_ = cs[i].Value(col)
			}
		}
	})
}

func TestOwnClients(t *testing.T) {
	tests := map[string]bool{
		"redtop": true, "redtop-monitor": true, "redtop-writer": true,
		"": false, "my-redtop": false, "Redtop": false, "app": false,
	}
	for name, want := range tests {
		c := ParseClientList("id=1 name=" + name)[0]
		if c.Own != want {
			t.Errorf("name %q: Own %v, want %v", name, c.Own, want)
		}
	}
}

// benchClients are 5,005 clients: the capture, 385 times.
func benchClients(b *testing.B) string {
	data, err := os.ReadFile(clientListCapture)
	if err != nil {
		b.Fatal(err)
	}
	return strings.Repeat(string(data), 385)
}

func BenchmarkParseClientList(b *testing.B) {
	text := benchClients(b)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		ParseClientList(text)
	}
}
