package ui

import (
	"math"
	"strings"
)

// braille dot bits per column, bottom row first.
var (
	leftDots  = [4]rune{0x40, 0x04, 0x02, 0x01}
	rightDots = [4]rune{0x80, 0x20, 0x10, 0x08}
)

// sparkline draws the newest 2*width values as braille, two values per
// cell and four levels per row, height rows tall, scaled from lo to hi.
// NaN values leave a gap. The result has exactly height lines of width
// cells.
func sparkline(values []float64, width, height int, lo, hi float64) []string {
	if width <= 0 || height <= 0 {
		return nil
	}
	if n := 2 * width; len(values) > n {
		values = values[len(values)-n:]
	}
	// Right-align: pad the left with gaps.
	pad := 2*width - len(values)
	levels := make([]int, 2*width)
	dots := 4 * height
	for i := range levels {
		if i < pad {
			levels[i] = 0
			continue
		}
		v := values[i-pad]
		switch {
		case math.IsNaN(v):
			levels[i] = 0
		case hi <= lo:
			levels[i] = 1
		default:
			f := (v - lo) / (hi - lo)
			levels[i] = max(1, min(dots, int(math.Round(f*float64(dots)))))
		}
	}
	rows := make([]string, height)
	for r := 0; r < height; r++ {
		var b strings.Builder
		base := 4 * (height - 1 - r) // dots below this row
		for c := 0; c < width; c++ {
			cell := rune(0x2800)
			for d := 0; d < 4; d++ {
				if levels[2*c]-base > d {
					cell |= leftDots[d]
				}
				if levels[2*c+1]-base > d {
					cell |= rightDots[d]
				}
			}
			b.WriteRune(cell)
		}
		rows[r] = b.String()
	}
	return rows
}

// scale picks a readable range for values: for ratios from the nearest 10%
// below the minimum to 100%; for rates from 0 to the maximum, unless the
// values stay in the top half, where a zero floor would draw a solid block:
// then the floor sits as far below the minimum as the values spread.
func scale(values []float64, ratio bool) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range values {
		if math.IsNaN(v) {
			continue
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	if math.IsInf(lo, 0) {
		return 0, 1
	}
	if ratio {
		lo = math.Floor(lo*10-0.001) / 10
		return max(0, lo), 1
	}
	if hi <= 0 {
		return 0, 1
	}
	if lo > hi/2 {
		return max(0, lo-(hi-lo)-hi/100), hi
	}
	return 0, hi
}
