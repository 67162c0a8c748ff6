package keys

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// TTL values that are not durations, as PTTL answers them.
const (
	NoExpiry time.Duration = -1 // the key has no TTL
	Gone     time.Duration = -2 // the key does not exist
)

// ttlUnits are the units ParseTTL accepts, largest first. Upper case is
// refused: "1M" could be meant as a month and would expire in a minute.
var ttlUnits = []struct {
	name string
	d    time.Duration
}{
	{"w", 7 * 24 * time.Hour},
	{"d", 24 * time.Hour},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
	{"ms", time.Millisecond},
}

const ttlHint = "use e.g. 90s, 10m, 2h, 14d"

// ParseTTL reads a TTL as an operator types it: "90s", "10m", "2h", "14d",
// "1w", "1h30m", "500ms", or plain seconds ("3600"). Components go largest
// unit first, each once, whole numbers only; spaces between them are
// allowed. Zero, negative, garbage and durations past time.Duration's
// range (about 292 years) are refused with a message that says why.
func ParseTTL(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("bad TTL %q: %s", s, why)
	}
	if in == "" {
		return bad(ttlHint)
	}
	if in[0] == '-' {
		return bad("must be more than zero")
	}
	tooLong := fmt.Sprintf("too long (at most %dd)", int64(math.MaxInt64)/int64(24*time.Hour))
	var total time.Duration
	if allDigits(in) {
		n, err := strconv.ParseInt(in, 10, 64)
		if err != nil || n > int64(math.MaxInt64/time.Second) {
			return bad(tooLong)
		}
		total = time.Duration(n) * time.Second
	} else {
		rest := strings.ReplaceAll(in, " ", "")
		lastUnit := -1
		for rest != "" {
			i := 0
			for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
				i++
			}
			if i == 0 {
				return bad(ttlHint)
			}
			digits := rest[:i]
			rest = rest[i:]
			j := 0
			for j < len(rest) && (rest[j] < '0' || rest[j] > '9') {
				j++
			}
			name := rest[:j]
			rest = rest[j:]
			if name == "" {
				return bad("a number without a unit after another component: " + ttlHint)
			}
			if name[0] == '.' || name[0] == ',' {
				return bad("whole numbers only, e.g. 1h30m")
			}
			u := -1
			for k, unit := range ttlUnits {
				if unit.name == name {
					u = k
				}
			}
			if u < 0 {
				return bad(fmt.Sprintf("unknown unit %q: %s (units: w, d, h, m, s, ms)", name, ttlHint))
			}
			if u <= lastUnit {
				return bad("largest unit first, each once, e.g. 1h30m")
			}
			lastUnit = u
			n, err := strconv.ParseInt(digits, 10, 64)
			unit := ttlUnits[u].d
			if err != nil || n > int64(math.MaxInt64/unit) {
				return bad(tooLong)
			}
			part := time.Duration(n) * unit
			if total > math.MaxInt64-part {
				return bad(tooLong)
			}
			total += part
		}
	}
	if total <= 0 {
		return bad("must be more than zero (to remove an expiry, use persist)")
	}
	return total, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// FormatTTL shows a TTL in its two largest units, rounded down: "14d",
// "2h30m", "1m30s", "45s", "450ms"; NoExpiry is "no expiry" and Gone (or any
// other negative) "gone". What it prints, ParseTTL reads back.
func FormatTTL(d time.Duration) string {
	switch {
	case d == NoExpiry:
		return "no expiry"
	case d < 0:
		return "gone"
	case d == 0:
		return "0s"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	units := ttlUnits[1:5] // d, h, m, s: a week count reads worse than days
	for i, u := range units {
		n := d / u.d
		if n == 0 {
			continue
		}
		s := strconv.FormatInt(int64(n), 10) + u.name
		if i+1 < len(units) {
			next := units[i+1]
			if m := (d % u.d) / next.d; m > 0 {
				s += strconv.FormatInt(int64(m), 10) + next.name
			}
		}
		return s
	}
	return "0s" // not reached: d ≥ 1s
}
