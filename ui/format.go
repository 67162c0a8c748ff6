package ui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// pct formats a fraction as a percentage, or "—" without data.
func pct(f float64) string {
	if math.IsNaN(f) {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", f*100)
}

// rate formats a per-second figure compactly.
func rate(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 100:
		return humanize.Comma(int64(math.Round(v)))
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// count formats an integer with thousands separators.
func count(n int64) string { return humanize.Comma(n) }

// bytes formats a size in binary units ("12 MiB").
func size(n int64) string {
	if n < 0 {
		return "—"
	}
	return strings.Replace(humanize.IBytes(uint64(n)), " ", "", 1)
}

// age formats a duration the way top does: 45s, 12m, 3h4m, 2d3h.
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// usec formats microseconds per call.
func usec(u float64) string {
	switch {
	case u >= 1e6:
		return fmt.Sprintf("%.1fs", u/1e6)
	case u >= 1e3:
		return fmt.Sprintf("%.1fms", u/1e3)
	}
	return fmt.Sprintf("%.1fµs", u)
}

// short formats a number in at most five cells: 950, 12.3k, 410k, 1.2M.
func short(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.1fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e5:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
