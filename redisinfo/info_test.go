package redisinfo

import (
	"os"
	"strings"
	"testing"
	"time"
)

func capture(t *testing.T, name string) Info {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(string(b))
}

func TestParseCapturedInfo(t *testing.T) {
	cases := []struct {
		file  string
		check func(t *testing.T, in Info, s Snapshot)
	}{
		{"redis7-master.txt", func(t *testing.T, in Info, s Snapshot) {
			if in.Int("keyspace_hits") != 9323 || in.Int("keyspace_misses") != 1088 {
				t.Errorf("hits/misses %d/%d", in.Int("keyspace_hits"), in.Int("keyspace_misses"))
			}
			if k := in.Keyspace[1]; k != (DBStats{Keys: 459, Expires: 400, AvgTTL: 240787}) {
				t.Errorf("db1 %+v", k)
			}
			if _, ok := in.Keyspace[2]; ok || len(in.Keyspace) != 3 {
				t.Errorf("keyspace %v", in.Keyspace)
			}
			if c := in.Commands["get"]; c.Calls == 0 || c.Usec == 0 {
				t.Errorf("cmdstat_get %+v", c)
			}
			if s.Replication.Role != "master" || s.Replication.ConnectedReplicas != 1 || s.Replication.MaxReplicaLag != 1 {
				t.Errorf("replication %+v", s.Replication)
			}
			if s.Server.Version != "7.0.15" || s.Server.Mode != "standalone" || s.Clients.Blocked != 1 {
				t.Errorf("server %+v clients %+v", s.Server, s.Clients)
			}
			if s.Memory.Max != 0 || s.Memory.Percent != -1 || s.Memory.Policy != "noeviction" {
				t.Errorf("memory %+v", s.Memory)
			}
		}},
		{"redis7-replica.txt", func(t *testing.T, in Info, s Snapshot) {
			r := s.Replication
			if r.Role != "slave" || !r.MasterLinkUp || !strings.HasPrefix(r.MasterAddr, "127.0.0.1:") || r.SyncInProgress {
				t.Errorf("replica %+v", r)
			}
		}},
		{"redis7-aof-lfu.txt", func(t *testing.T, in Info, s Snapshot) {
			p, m := s.Persistence, s.Memory
			if !p.AOF || !p.AOFRewriting || !p.AOFLastWriteOK {
				t.Errorf("persistence %+v", p)
			}
			if m.Max != 64<<20 || m.Policy != "allkeys-lfu" || m.Percent < 90 || m.Level() != Crit {
				t.Errorf("memory %+v level %v", m, m.Level())
			}
			if in.Int("evicted_keys") != 11424 {
				t.Errorf("evicted %d", in.Int("evicted_keys"))
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			in := capture(t, c.file)
			tr := NewTracker(60)
			s := tr.Add([]NodeSample{{Node: "n", At: t0, Info: in}})
			c.check(t, in, s)
		})
	}
}

func TestResetStatBetweenRealCaptures(t *testing.T) {
	tr := NewTracker(60)
	tr.Add([]NodeSample{{Node: "n", At: t0, Info: capture(t, "redis7-master.txt")}})
	s := tr.Add([]NodeSample{{Node: "n", At: t0.Add(time.Second), Info: capture(t, "redis7-master-resetstat.txt")}})
	if !strings.Contains(s.ResetReason, "RESETSTAT") {
		t.Fatalf("reset not detected: %q", s.ResetReason)
	}
	if s.Last.HasLookups() || s.Last.Ops != 0 {
		t.Fatalf("rates across RESETSTAT: %+v", s.Last)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"redis7-master.txt", "redis7-replica.txt"} {
		b, _ := os.ReadFile("testdata/" + name)
		f.Add(string(b))
	}
	f.Add("db0:keys=\r\ncmdstat_:calls=x,usec\r\n:\r\n#\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		in := Parse(s)
		tr := NewTracker(60)
		tr.Add([]NodeSample{{Node: "n", At: t0, Info: in}})
		tr.Add([]NodeSample{{Node: "n", At: t0.Add(time.Second), Info: in}})
	})
}
