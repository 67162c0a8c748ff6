package redisinfo

import (
	"context"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ClusterInfo is one node's CLUSTER INFO: its view of the cluster's health.
// (INFO's cluster section carries only cluster_enabled.)
type ClusterInfo struct {
	State         string // "ok" or "fail"
	SlotsAssigned int64
	SlotsOK       int64
	SlotsPFail    int64
	SlotsFail     int64
	KnownNodes    int64
	Size          int64 // masters serving at least one slot
	CurrentEpoch  int64
	MyEpoch       int64
}

// ParseClusterInfo reads CLUSTER INFO output; unknown lines are ignored.
func ParseClusterInfo(text string) ClusterInfo {
	var ci ClusterInfo
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "cluster_state":
			ci.State = v
		case "cluster_slots_assigned":
			ci.SlotsAssigned = n
		case "cluster_slots_ok":
			ci.SlotsOK = n
		case "cluster_slots_pfail":
			ci.SlotsPFail = n
		case "cluster_slots_fail":
			ci.SlotsFail = n
		case "cluster_known_nodes":
			ci.KnownNodes = n
		case "cluster_size":
			ci.Size = n
		case "cluster_current_epoch":
			ci.CurrentEpoch = n
		case "cluster_my_epoch":
			ci.MyEpoch = n
		}
	}
	return ci
}

// Level grades the cluster's health: crit when the state is not ok or
// slots are failed or unassigned, warn when some are only suspected.
func (ci ClusterInfo) Level() Level {
	switch {
	case ci.State != "ok" || ci.SlotsFail > 0 || ci.SlotsAssigned < 16384:
		return Crit
	case ci.SlotsPFail > 0:
		return Warn
	}
	return OK
}

// FetchClusterInfo sends CLUSTER INFO to c, booking it in ledger (may be
// nil) under node.
func FetchClusterInfo(ctx context.Context, c *redis.Client, node string, ledger *Ledger) (ClusterInfo, error) {
	w := wire{l: ledger, node: node}
	args := []string{"cluster", "info"}
	text, err := c.ClusterInfo(ctx).Result()
	if err != nil {
		w.failed("cluster|info", args, err)
		return ClusterInfo{}, err
	}
	w.ok("cluster|info", args, wireBulk(len(text)))
	return ParseClusterInfo(text), nil
}
