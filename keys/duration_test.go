package keys

import (
	"strings"
	"testing"
	"time"
)

func TestParseTTL(t *testing.T) {
	const day = 24 * time.Hour
	for _, tt := range []struct {
		in     string
		want   time.Duration
		errHas string
	}{
		{in: "90s", want: 90 * time.Second},
		{in: "10m", want: 10 * time.Minute},
		{in: "2h", want: 2 * time.Hour},
		{in: "14d", want: 14 * day},
		{in: "1w", want: 7 * day},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "1w2d3h4m5s6ms", want: 9*day + 3*time.Hour + 4*time.Minute + 5*time.Second + 6*time.Millisecond},
		{in: "1h 30m", want: 90 * time.Minute},
		{in: "  3600 ", want: time.Hour},
		{in: "3600", want: time.Hour},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "0h5m", want: 5 * time.Minute},
		{in: "106751d", want: 106751 * day},

		{in: "", errHas: `bad TTL "": use e.g. 90s, 10m, 2h, 14d`},
		{in: "x", errHas: `bad TTL "x": use e.g. 90s, 10m, 2h, 14d`},
		{in: "abc10s", errHas: `bad TTL "abc10s": use e.g.`},
		{in: "0", errHas: `bad TTL "0": must be more than zero (to remove an expiry, use persist)`},
		{in: "0s", errHas: "must be more than zero"},
		{in: "0h0m", errHas: "must be more than zero"},
		{in: "-5s", errHas: `bad TTL "-5s": must be more than zero`},
		{in: "-5", errHas: "must be more than zero"},
		{in: "+5s", errHas: "use e.g."},
		{in: "10", want: 10 * time.Second},
		{in: "10x", errHas: `unknown unit "x"`},
		{in: "1M", errHas: `unknown unit "M"`},
		{in: "1H", errHas: `unknown unit "H"`},
		{in: "1y", errHas: `unknown unit "y"`},
		{in: "1.5h", errHas: "whole numbers only"},
		{in: "1,5h", errHas: "whole numbers only"},
		{in: "30m1h", errHas: "largest unit first, each once"},
		{in: "1h1h", errHas: "largest unit first, each once"},
		{in: "1h30", errHas: "a number without a unit"},
		{in: "106752d", errHas: "too long (at most 106751d)"},
		{in: "99999999999999999999s", errHas: "too long"},
		{in: "9223372036854775807", errHas: "too long"},
		{in: "15251w", errHas: "too long"},
		{in: "15250w1d", want: 106751 * day},
		{in: "15250w2d", errHas: "too long"},
		{in: "106751d23h47m16s854ms", want: 106751*day + 23*time.Hour + 47*time.Minute + 16*time.Second + 854*time.Millisecond},
		{in: "106751d23h47m16s855ms", errHas: "too long"},
	} {
		got, err := ParseTTL(tt.in)
		if tt.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("ParseTTL(%q) = %v, %v; want error with %q", tt.in, got, err, tt.errHas)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseTTL(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatTTL(t *testing.T) {
	const day = 24 * time.Hour
	for _, tt := range []struct {
		in   time.Duration
		want string
	}{
		{NoExpiry, "no expiry"},
		{Gone, "gone"},
		{-time.Second, "gone"},
		{0, "0s"},
		{450 * time.Millisecond, "450ms"},
		{time.Millisecond, "1ms"},
		{time.Second, "1s"},
		{45*time.Second + 999*time.Millisecond, "45s"},
		{90 * time.Second, "1m30s"},
		{10 * time.Minute, "10m"},
		{2*time.Hour + 30*time.Minute + 15*time.Second, "2h30m"},
		{2*time.Hour + 15*time.Second, "2h"},
		{14 * day, "14d"},
		{14*day + 3*time.Hour + 59*time.Minute, "14d3h"},
		{day + 5*time.Minute, "1d"},
		{400 * day, "400d"},
	} {
		if got := FormatTTL(tt.in); got != tt.want {
			t.Errorf("FormatTTL(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestFormatTTLParsesBack: what FormatTTL shows, ParseTTL reads, to the
// value shown (rounded down to its two units).
func TestFormatTTLParsesBack(t *testing.T) {
	for _, d := range []time.Duration{time.Millisecond, 999 * time.Millisecond, time.Second, 61 * time.Second,
		3*time.Hour + 7*time.Minute, 50*24*time.Hour + time.Hour, 106751 * 24 * time.Hour} {
		s := FormatTTL(d)
		back, err := ParseTTL(s)
		if err != nil || back > d || FormatTTL(back) != s {
			t.Errorf("%v → %q → %v, %v", d, s, back, err)
		}
	}
}
