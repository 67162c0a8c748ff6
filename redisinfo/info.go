// Package redisinfo polls INFO from a set of nodes and turns the counters
// into rates over sliding windows. It knows nothing about terminals: it
// returns typed snapshots that the UI and the batch mode render.
package redisinfo

import (
	"strconv"
	"strings"
)

// Info is one parsed INFO reply.
type Info struct {
	Fields   map[string]string      // "used_memory" -> "1234"
	Keyspace map[int]DBStats        // db number -> stats
	Commands map[string]CommandStat // "get" -> stats
}

// DBStats is one line of the Keyspace section.
type DBStats struct {
	Keys    int64 `json:"keys"`
	Expires int64 `json:"expires"`
	AvgTTL  int64 `json:"avg_ttl_ms"`
}

// CommandStat is one line of the Commandstats section.
type CommandStat struct {
	Calls int64
	Usec  int64
}

// Parse reads the text of an INFO reply. Unknown lines are kept as fields;
// malformed ones are skipped, never fatal.
func Parse(s string) Info {
	in := Info{
		Fields:   make(map[string]string, 256),
		Keyspace: map[int]DBStats{},
		Commands: map[string]CommandStat{},
	}
	for line := range strings.Lines(s) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(k, "db") && isDigits(k[2:]):
			n, _ := strconv.Atoi(k[2:])
			kv := subfields(v)
			in.Keyspace[n] = DBStats{Keys: atoi(kv["keys"]), Expires: atoi(kv["expires"]), AvgTTL: atoi(kv["avg_ttl"])}
		case strings.HasPrefix(k, "cmdstat_"):
			kv := subfields(v)
			in.Commands[k[len("cmdstat_"):]] = CommandStat{Calls: atoi(kv["calls"]), Usec: atoi(kv["usec"])}
		default:
			in.Fields[k] = v
		}
	}
	return in
}

// subfields splits "keys=1,expires=0,avg_ttl=0".
func subfields(v string) map[string]string {
	m := make(map[string]string, 6)
	for part := range strings.SplitSeq(v, ",") {
		if k, val, ok := strings.Cut(part, "="); ok {
			m[k] = val
		}
	}
	return m
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// Has reports whether the field was present.
func (in Info) Has(k string) bool { _, ok := in.Fields[k]; return ok }

// Str returns a field, or "".
func (in Info) Str(k string) string { return in.Fields[k] }

// Int returns a field as an integer, or 0 when absent or malformed.
func (in Info) Int(k string) int64 { return atoi(in.Fields[k]) }

// Float returns a field as a float, or 0 when absent or malformed.
func (in Info) Float(k string) float64 {
	f, _ := strconv.ParseFloat(in.Fields[k], 64)
	return f
}

// Sub returns the key=value pairs of a compound field such as slave0.
func (in Info) Sub(k string) map[string]string { return subfields(in.Fields[k]) }
