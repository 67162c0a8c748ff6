package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/redis/go-redis/v9"
	"redtop/internal/redisproc"
)

// TestBulkDeleteFromTheBrowser deletes a prefix through the TUI, with the
// preview, the typed confirmation and a backup, on a real server: every
// matching key is gone, the decoys are not, and the journal and backup
// exist.
func TestBulkDeleteFromTheBrowser(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	srv := redisproc.ForTest(t, redisproc.Options{})
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	pipe := c.Pipeline()
	for i := 0; i < 2000; i++ {
		pipe.Set(ctx, fmt.Sprintf("key:%d", i), "v", 0)
	}
	decoys := []string{"key-1", "keys:1", "KEY:1", "key*1", "key[1", `key\1`, "ke:y"}
	for _, k := range decoys {
		pipe.Set(ctx, k, "decoy", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	d, _ := startBrowsing(t, srv, 120, 40)
	d.keys("2")
	d.expect("key:", "2,000")
	// The largest node comes first: key:.
	d.keys("D")
	d.expect("Delete keys by pattern", "key:*")
	d.keys("enter")
	d.expect("2,000 keys match key:*", "backup on")
	d.keys("k", "e", "y", ":", "*", "enter")
	d.settle()
	d.expect("deleted: 2,000", "already gone: 0", "unknown: 0", "journal:", "backup:")

	if n, _ := c.DBSize(ctx).Result(); n != int64(len(decoys)) {
		t.Fatalf("dbsize %d, want the %d decoys", n, len(decoys))
	}
	for _, k := range decoys {
		if n, _ := c.Exists(ctx, k).Result(); n != 1 {
			t.Fatalf("decoy %q deleted", k)
		}
	}
	files, _ := filepath.Glob(filepath.Join(state, "redtop", "*"))
	if len(files) != 2 {
		t.Fatalf("journal and backup: %v", files)
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, st.Mode(), err)
		}
	}
	d.keys("enter") // closes the report and scans again
	d.expect("scanned 7 / ~7")
}
