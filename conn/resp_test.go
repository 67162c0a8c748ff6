package conn

import "testing"

func TestAppendCommand(t *testing.T) {
	got := string(AppendCommand([]byte("x"), "SET", "k\r\n", ""))
	if want := "x*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$0\r\n\r\n"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}
