package ui

import (
	"time"

	"redtop/redisinfo"
)

// polledMsg carries one poll round. gen ties it to the loop that asked.
type polledMsg struct {
	gen     int
	samples []redisinfo.NodeSample
	took    time.Duration
}

// tickMsg re-arms the poll loop; a tick from an older loop (a changed
// interval, a pause) carries an old gen and is dropped.
type tickMsg struct{ gen int }

// clearStatusMsg expires a status message; seq stops an old timer from
// wiping a newer message.
type clearStatusMsg struct{ seq int }

// clockMsg redraws ages ("sample 3s ago") while nothing else happens, e.g.
// while the server is down. It is tagged like tickMsg.
type clockMsg struct{ gen int }

// nodePickedMsg: the overview opened a node of a cluster (addr), or went
// back to the cluster-wide view (""). The clients, slow log, latency and
// MONITOR panes follow.
type nodePickedMsg struct{ addr string }
