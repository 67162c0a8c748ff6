package keys

import (
	"errors"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ClusterSlots is the number of hash slots a Redis Cluster divides keys
// into.
const ClusterSlots = 16384

// Slot is the cluster hash slot of key: CRC16 of the key, or of its hash
// tag (the text between the first '{' and the next '}', when not empty),
// modulo 16384. go-redis has the same function, in an internal package.
func Slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key)) & (ClusterSlots - 1)
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021), table-driven.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^s[i]]
	}
	return crc
}

var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// groupBySlot splits keys into runs of the same slot, in the order each
// slot first appears, keys keeping their order within a slot: a variadic
// command (UNLINK) on a cluster must not cross slots. One slot gives one
// group, the keys slice itself.
func groupBySlot(keys []string) [][]string {
	return slotGroups(keys, func(k string) string { return k })
}

// slotGroups is groupBySlot for any items, key naming each one's key.
func slotGroups[T any](items []T, key func(T) string) [][]T {
	if len(items) == 0 {
		return nil
	}
	first := Slot(key(items[0]))
	same := true
	for _, it := range items[1:] {
		if Slot(key(it)) != first {
			same = false
			break
		}
	}
	if same {
		return [][]T{items}
	}
	idx := map[int]int{}
	var out [][]T
	for _, it := range items {
		s := Slot(key(it))
		i, ok := idx[s]
		if !ok {
			i = len(out)
			idx[s] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], it)
	}
	return out
}

// redirect is a MOVED or ASK error reply: the slot is served elsewhere
// (MOVED: for good; ASK: for this one command, which must follow ASKING).
// The server answered before running the command: re-sending it to Addr
// is not a retry.
type redirect struct {
	Ask  bool
	Slot int
	Addr string
}

// IsRedirect reports whether err is a MOVED or ASK reply: the key's slot
// is served by another node, and the command was not run.
func IsRedirect(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	_, ok := parseRedirect(re)
	return ok
}

// parseRedirect reads "MOVED 3999 127.0.0.1:6381" or "ASK 3999 host:port"
// (an empty host, "MOVED 3999 :6381", means the host that answered).
func parseRedirect(err error) (redirect, bool) {
	if err == nil || !isServerReply(err) {
		return redirect{}, false
	}
	f := strings.Fields(err.Error())
	if len(f) != 3 || (f[0] != "MOVED" && f[0] != "ASK") {
		return redirect{}, false
	}
	slot, serr := strconv.Atoi(f[1])
	if serr != nil || slot < 0 || slot >= ClusterSlots || f[2] == "" {
		return redirect{}, false
	}
	return redirect{Ask: f[0] == "ASK", Slot: slot, Addr: f[2]}, true
}
