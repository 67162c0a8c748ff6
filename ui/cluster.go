package ui

import (
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"
	"redtop/redisinfo"
)

// The root's side of a cluster: one tracker per node, the node picked in
// the overview that the other panes follow, and each poll's events on the
// status line.

// eventNews is the status line for the events of a poll round: the worst
// (the latest of equals), and how many more there are.
func eventNews(samples []redisinfo.NodeSample) (string, level, bool) {
	var evs []redisinfo.Event
	for _, s := range samples {
		evs = append(evs, s.Events...)
	}
	if len(evs) == 0 {
		return "", infoLevel, false
	}
	worst := evs[0]
	for _, e := range evs[1:] {
		if e.Level >= worst.Level {
			worst = e
		}
	}
	text := oneLine(worst.Text)
	if len(evs) > 1 {
		text += fmt.Sprintf(" (+%d more in the overview)", len(evs)-1)
	}
	return text, eventLevel(worst.Level), true
}

// eventLevel is the status line's level for an event's.
func eventLevel(l redisinfo.Level) level {
	switch l {
	case redisinfo.Crit:
		return errLevel
	case redisinfo.Warn:
		return warnLevel
	}
	return okLevel
}

// nodeHistory bounds each node's own tracker: four minutes at 1 s polls
// covers the windows and the charts, without holding a cluster-sized
// history per node.
const nodeHistory = 240

// feedNodes feeds each node's own tracker on a cluster; the trackers of
// nodes no longer polled go.
func (m *Model) feedNodes(samples []redisinfo.NodeSample) {
	if len(samples) == 0 || len(samples) == 1 && samples[0].ClusterNode == nil && m.nodeTrackers == nil {
		return // a single server: the tracker is the node's
	}
	if m.nodeTrackers == nil {
		m.nodeTrackers, m.nodeRTT = map[string]*redisinfo.Tracker{}, map[string]time.Duration{}
	}
	polled := make(map[string]bool, len(samples))
	for _, s := range samples {
		polled[s.Node] = true
		tr := m.nodeTrackers[s.Node]
		if tr == nil {
			tr = redisinfo.NewNodeTracker(min(m.cfg.History, nodeHistory))
			m.nodeTrackers[s.Node] = tr
		}
		s.Events, s.Cluster = nil, nil // the cluster's, shown from its snapshot
		tr.Feed([]redisinfo.NodeSample{s})
		if s.Err == nil {
			m.nodeRTT[s.Node] = s.RTT
		}
	}
	for a := range m.nodeTrackers {
		if !polled[a] {
			delete(m.nodeTrackers, a)
			delete(m.nodeRTT, a)
		}
	}
}

// nodeSnapshot is one node's own snapshot, with the cluster's state and
// events; false when the node is not polled.
func (m *Model) nodeSnapshot(addr string) (redisinfo.Snapshot, bool) {
	tr := m.nodeTrackers[addr]
	if tr == nil {
		return redisinfo.Snapshot{}, false
	}
	s := tr.Snapshot()
	s.Cluster, s.Events = m.overview.snap.Cluster, m.overview.snap.Events
	return s, true
}

// showNode shows a node of the cluster in the overview (addr "" for the
// cluster-wide view) and points the clients, slow log, latency and
// MONITOR panes at it. The PING latency starts again: another node's.
func (m *Model) showNode(addr string) tea.Cmd {
	var snap redisinfo.Snapshot
	if addr != "" {
		s, ok := m.nodeSnapshot(addr)
		if !ok {
			return m.setStatus(warnLevel, addr+" is not polled", 4*time.Second)
		}
		snap = s
	}
	changed := addr != m.node
	m.node = addr
	m.overview.showNode(addr, snap, m.nodeRTT[addr])
	if !changed {
		return nil
	}
	m.latency = newLatencyWindow(time.Minute)
	var cmds []tea.Cmd
	for _, n := range m.order {
		if f, ok := n.pane.(nodeFollower); ok {
			cmds = append(cmds, f.setNode(addr))
		}
	}
	text := "showing " + addr + ": clients, slow log, latency and MONITOR follow it"
	if addr == "" {
		text = "cluster-wide view"
		if m.cfg.Seed != "" {
			text += ": clients, slow log, latency and MONITOR show " + m.cfg.Seed
		}
	}
	return tea.Batch(append(cmds, m.setStatus(okLevel, text, 4*time.Second))...)
}

// Node is the node picked in the overview, "" for the cluster-wide view.
func (m *Model) Node() string { return m.node }

// Shown is what the overview's boxes show: the picked node's own
// snapshot, or the cluster's (for tests).
func (m *Model) Shown() redisinfo.Snapshot { return m.overview.data() }
