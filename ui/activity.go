package ui

import (
	"context"
	"time"
)

// ActivitySource is what the clients, slow log and MONITOR panes and the
// latency line need from Redis. main adapts redisinfo to it.
//
// Every call names the node it is for: its address as the nodes table
// shows it, or "" for the default node (the server redtop was pointed
// at). The node travels with the call rather than living in the source,
// so a reply can never be shown under another node's name, and a CLIENT
// KILL or SLOWLOG RESET goes to the node whose rows were on screen
// (client ids are per node).
type ActivitySource interface {
	Clients(ctx context.Context, node string) ([]ClientRow, error)
	KillClient(ctx context.Context, node string, id int64) (string, error)
	Slowlog(ctx context.Context, node string) (SlowlogData, error)
	ResetSlowlog(ctx context.Context, node string) (string, error)
	// Ping is one PING on redtop's own latency connection to the node.
	Ping(ctx context.Context, node string) (time.Duration, error)
	LatencyEvents(ctx context.Context, node string) (LatencyData, error)
	// Monitor starts MONITOR on the node, on a connection of its own.
	Monitor(ctx context.Context, node string) (MonitorStream, error)
	// Allowed says whether a feature ("monitor", "clients", "kill",
	// "slowlog", "slowlog-reset", "latency") may be used, and if not why
	// ("needs +monitor"). It asks the server once per session (the default
	// node: a cluster's nodes are expected to share their ACL rules).
	Allowed(ctx context.Context, feature string) (bool, string)
}

// ClientRow is one connection of CLIENT LIST.
type ClientRow struct {
	ID     int64
	Name   string // escaped
	Addr   string
	User   string
	Cmd    string
	Flags  string
	Age    time.Duration
	Idle   time.Duration
	DB     int
	Omem   int64
	TotMem int64
	Own    bool // one of redtop's connections
}

// SlowEntry is one slow log entry.
type SlowEntry struct {
	ID       int64
	Time     time.Time
	Duration time.Duration
	Command  string // escaped, arguments included
	Client   string // address
	Name     string // client name, escaped
}

// SlowlogData is the slow log and its settings.
type SlowlogData struct {
	Entries    []SlowEntry // newest first
	SlowerThan time.Duration
	MaxLen     int64
	ConfigErr  string // why the settings are unknown ("needs +config|get")
}

// LatencyData is LATENCY LATEST, or why it is empty.
type LatencyData struct {
	Enabled bool
	Hint    string // how to enable it, when off
	Events  []LatencyEvent
}

// LatencyEvent is one LATENCY LATEST row.
type LatencyEvent struct {
	Name   string
	Time   time.Time
	Latest time.Duration
	Max    time.Duration
}

// MonitorStream is a running MONITOR session. Its methods may be called
// from commands, on other goroutines.
type MonitorStream interface {
	// Drain takes up to max lines read since the last call, never blocking.
	Drain(max int) ([]MonitorRow, MonitorStats)
	// Top is the aggregated view of what was drained so far.
	Top() MonitorTop
	Pause()
	Resume()
	Stop(reason string)
}

// MonitorTop is MONITOR aggregated over the last seconds.
type MonitorTop struct {
	Window       time.Duration
	Commands     []TopRow
	Prefixes     []TopRow
	Clients      []TopRow
	HotKeys      []TopRow
	HotKeysLabel string // where the hot-key counts come from
}

// TopRow is one line of a top list.
type TopRow struct {
	Name   string // escaped
	PerSec float64
	Freq   int64 // OBJECT FREQ, for hot keys under an LFU policy; -1 otherwise
}

// MonitorRow is one MONITOR line.
type MonitorRow struct {
	Time   time.Time
	DB     int
	Client string
	Cmd    string // upper case
	Args   string // escaped, space separated
	Key    string // the first key argument, raw; "" when none
	Prefix string // Key folded like the key tree ("user:*:profile")
}

// MonitorStats describe the session.
type MonitorStats struct {
	Seen    int64
	Dropped int64
	Started time.Time
	Ended   bool
	Reason  string // why it ended
	Paused  bool
}
