// Package record defines the measurement records dstload's workload processes
// produce, and the analysis that turns them into the latencies of
// docs/latency.md.
//
// Three processes write records and one reads them:
//   - churn (with its observer) writes ScaleEvent, ScaleFailure,
//     EndpointChange and KubeConvergence;
//   - every client writes StreamInfo, Receipt, StreamConvergence, StreamEnd
//     and one Sampling;
//   - `dstload run` collects one Set from each process (GET /records, or the
//     --records-file each writes at exit), joins them with Merge and calls
//     Analyze, then only aggregates.
//
// All times are wall-clock times of one host clock (or NTP-synchronised
// clocks): the observer's and the clients' times are compared directly.
// A service is always named "namespace/name".
package record

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// ScaleEvent is one successful scale write by churn.
type ScaleEvent struct {
	// Service is the Service ("namespace/name") in front of the Deployment.
	Service string `json:"service"`
	// Deployment is the scaled Deployment's name (same namespace).
	Deployment string `json:"deployment"`
	// Seq numbers the events of one service from 1 upwards; (Service, Seq)
	// identifies an event across all records.
	Seq uint64 `json:"seq"`
	// Target is the replica count written.
	Target int `json:"target"`
	// Time is when the successful write was sent to the API server (its
	// attempt's start). Nothing can react to the change before it, so
	// latencies measured from it are never too small.
	Time time.Time `json:"time"`
	// Took is how long the successful attempt took (tookSeconds in JSON).
	Took time.Duration `json:"-"`
	// Attempts counts the tries including the successful one (1 = no retry).
	Attempts int `json:"attempts"`
	// Cluster names the cluster whose Deployment was scaled when churn
	// scales the same services in two clusters (federated); "" otherwise.
	Cluster string `json:"cluster,omitempty"`
	// Expect (federated only) is the endpoint count every stream of the
	// service should then hold: the union of both clusters' members,
	// Target plus the other cluster's replicas. 0: Target.
	Expect int `json:"expect,omitempty"`
}

// Want is the endpoint count a stream of the service converges to after e:
// Expect when set (a federated union), else Target.
func (e ScaleEvent) Want() int {
	if e.Expect > 0 {
		return e.Expect
	}
	return e.Target
}

// ScaleFailure is a scale write that failed after all retries. It is not an
// event (nothing changed), but it is never dropped silently.
type ScaleFailure struct {
	Service  string    `json:"service"`
	Target   int       `json:"target"`
	Time     time.Time `json:"time"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error"`
}

// EndpointChange is the observer seeing one endpoint (IP:port) of a service
// become ready, or stop being ready (not ready, terminating, or gone from the
// EndpointSlices).
type EndpointChange struct {
	Service string    `json:"service"`
	Addr    string    `json:"addr"` // "10.0.0.7:8080", "[fd00::7]:8080"
	Ready   bool      `json:"ready"`
	Time    time.Time `json:"time"`
	// Initial marks endpoints already ready when the observer started: they
	// bound the matching windows but are not changes to measure.
	Initial bool `json:"initial,omitempty"`
	// PodGone is, for a removal, when the observer saw the endpoint's pod
	// deleted, if that was before the endpoint left the slices. The
	// destination controller drops an endpoint whose pod is gone without
	// waiting for the slice, so a Remove received between the two was
	// caused by the deletion and is timed from it (Analyze).
	PodGone time.Time `json:"podGone,omitzero"`
	// Triggers are the events of the slice that still listed the endpoint
	// after its pod was deleted (at most the last 32): the controller
	// recomputes a slice on each and then drops an endpoint whose pod is
	// gone. A Remove before the slice dropped the endpoint is timed from
	// the latest of PodGone and these before it.
	Triggers []time.Time `json:"triggers,omitempty"`
	// Cluster names the cluster whose slices changed when a run observes
	// two (federated); "" otherwise.
	Cluster string `json:"cluster,omitempty"`
}

// KubeConvergence is when the cluster itself reached a scale event's target:
// the first time the observer counted ready endpoints == target at or after
// the write. Reached is false when the next event of the service (or the end
// of the run) came first.
type KubeConvergence struct {
	Service string    `json:"service"`
	Seq     uint64    `json:"seq"`
	Target  int       `json:"target"`
	Reached bool      `json:"reached"`
	Time    time.Time `json:"time,omitzero"`
}

// StreamInfo describes one logical client stream. A logical stream keeps its
// ID across reconnects and lifetime renewals.
type StreamInfo struct {
	Client  string `json:"client"`
	Stream  uint32 `json:"stream"`
	Service string `json:"service"`
	// Sampled streams record a Receipt for every address they receive.
	Sampled bool `json:"sampled"`
	// Opened is when the first Get call of the stream was made.
	Opened time.Time `json:"opened"`
	// Closed is when the client stopped the stream for good (zero while it
	// is still running).
	Closed time.Time `json:"closed,omitzero"`
	// Reconnects counts the Get calls after the first one.
	Reconnects int `json:"reconnects"`
}

// Receipt is one address a sampled stream received in an Add or a Remove.
// A stream that is not sampled records receipts too once it has missed an
// event (StreamConvergence.Held); those are diagnoses' evidence, never
// update latencies.
type Receipt struct {
	Client  string    `json:"client"`
	Stream  uint32    `json:"stream"`
	Service string    `json:"service"`
	Addr    string    `json:"addr"`
	Add     bool      `json:"add"`
	Time    time.Time `json:"time"`
	// Snapshot marks the first update after a (re)connect: it carries the
	// server's current set, not changes, so it is not an update latency.
	Snapshot bool `json:"snapshot,omitempty"`
}

// StreamConvergence is one stream's view of one scale event. Written for
// every stream (not only sampled ones) once the client knows the event.
type StreamConvergence struct {
	Client  string `json:"client"`
	Stream  uint32 `json:"stream"`
	Service string `json:"service"`
	Seq     uint64 `json:"seq"`
	Target  int    `json:"target"`
	// FirstChange is the first Add or Remove the stream received at or
	// after the event's write (zero if none).
	FirstChange time.Time `json:"firstChange,omitzero"`
	// Converged is when the stream's endpoint set size first equalled the
	// target at or after the write (zero when missed).
	Converged time.Time `json:"converged,omitzero"`
	// Missed: the stream did not converge before the service's next event
	// or the end of the run.
	Missed bool `json:"missed,omitempty"`
	// Deadline (missed only) is when the client gave up on the event: it
	// learned the service's next event, or the run ended.
	Deadline time.Time `json:"deadline,omitzero"`
	// Held (missed only) is the stream's endpoint set at Deadline, so that
	// Diagnose can name what it held or lacked. From then on the stream
	// records receipts even when it is not sampled, so that Diagnose can
	// tell when it recovered.
	Held []string `json:"held,omitempty"`
}

// Stream end causes. A gRPC status other than OK is recorded by its code
// name ("NotFound", "Unavailable", ...).
const (
	// CauseEndOK is the server ending the stream with status OK: what
	// Linkerd's destination does when a stream's update queue overflows.
	CauseEndOK = "EndOK"
	// CauseLifetime is the client ending a stream whose bounded lifetime ran
	// out; it is renewed at once and is not an error.
	CauseLifetime = "Lifetime"
)

// StreamEnd is one end of a stream's Get call other than the client's own
// shutdown; the stream reconnects after it.
type StreamEnd struct {
	Client  string    `json:"client"`
	Stream  uint32    `json:"stream"`
	Service string    `json:"service"`
	Time    time.Time `json:"time"`
	Cause   string    `json:"cause"`
	Message string    `json:"message,omitempty"`
}

// Sampling says which share of a client's streams recorded receipts, so
// reports can state it.
type Sampling struct {
	Client  string `json:"client"`
	Streams int    `json:"streams"`
	Sampled int    `json:"sampled"`
	// Node is the nodeName of the client's context token: the node it
	// sits on as the destination controller sees it.
	Node string `json:"node,omitempty"`
}

// ProcessStat is what one dstload workload process cost and how promptly
// it ran while it measured: CPU time, and how late a 50 ms timer fired
// (the scheduling delay its timestamps can carry).
type ProcessStat struct {
	// Process names the role: "observer", "clients", "churn".
	Process     string  `json:"process"`
	CPUSeconds  float64 `json:"cpuSeconds"`
	WallSeconds float64 `json:"wallSeconds"`
	Ticks       int     `json:"ticks"`
	// Timer lateness quantiles, in seconds.
	TickLatenessP50 float64 `json:"tickLatenessP50Seconds"`
	TickLatenessP99 float64 `json:"tickLatenessP99Seconds"`
	TickLatenessMax float64 `json:"tickLatenessMaxSeconds"`
	// WatchDelays (observer only): how long after the API server answered
	// a canary write the observer's EndpointSlice watch delivered it, in
	// seconds. They bound how late after a commit the observer sees it.
	WatchDelays   int     `json:"watchDelays,omitempty"`
	WatchDelayP50 float64 `json:"watchDelayP50Seconds,omitempty"`
	WatchDelayP99 float64 `json:"watchDelayP99Seconds,omitempty"`
	WatchDelayMax float64 `json:"watchDelayMaxSeconds,omitempty"`
	// Source (observer only) is what the observer followed: "etcd" (the
	// store itself, local provider) or "api" (the API server's watch).
	Source string `json:"source,omitempty"`
	// APIDelays (etcd source only): how long after the API server
	// answered a canary write its watch delivered it, in seconds. Update
	// latencies measured from etcd include this delay of the API server.
	APIDelays   int     `json:"apiDelays,omitempty"`
	APIDelayP50 float64 `json:"apiDelayP50Seconds,omitempty"`
	APIDelayP99 float64 `json:"apiDelayP99Seconds,omitempty"`
	APIDelayMax float64 `json:"apiDelayMaxSeconds,omitempty"`
}

// Set holds the records of one process, or of several after Merge.
type Set struct {
	ScaleEvents       []ScaleEvent        `json:"scaleEvents,omitempty"`
	ScaleFailures     []ScaleFailure      `json:"scaleFailures,omitempty"`
	EndpointChanges   []EndpointChange    `json:"endpointChanges,omitempty"`
	KubeConvergence   []KubeConvergence   `json:"kubeConvergence,omitempty"`
	Streams           []StreamInfo        `json:"streams,omitempty"`
	Receipts          []Receipt           `json:"receipts,omitempty"`
	StreamConvergence []StreamConvergence `json:"streamConvergence,omitempty"`
	StreamEnds        []StreamEnd         `json:"streamEnds,omitempty"`
	Sampling          []Sampling          `json:"sampling,omitempty"`
	Processes         []ProcessStat       `json:"processes,omitempty"`
}

// Merge appends the records of all sets into one. Client names must differ
// between the clients merged (they key the streams).
func Merge(sets ...Set) Set {
	var m Set
	for _, s := range sets {
		m.ScaleEvents = append(m.ScaleEvents, s.ScaleEvents...)
		m.ScaleFailures = append(m.ScaleFailures, s.ScaleFailures...)
		m.EndpointChanges = append(m.EndpointChanges, s.EndpointChanges...)
		m.KubeConvergence = append(m.KubeConvergence, s.KubeConvergence...)
		m.Streams = append(m.Streams, s.Streams...)
		m.Receipts = append(m.Receipts, s.Receipts...)
		m.StreamConvergence = append(m.StreamConvergence, s.StreamConvergence...)
		m.StreamEnds = append(m.StreamEnds, s.StreamEnds...)
		m.Sampling = append(m.Sampling, s.Sampling...)
		m.Processes = append(m.Processes, s.Processes...)
	}
	return m
}

// Write encodes s as one JSON document (the format of GET /records and of
// --records-file).
func Write(w io.Writer, s Set) error {
	if err := json.NewEncoder(w).Encode(s); err != nil {
		return fmt.Errorf("encode records: %w", err)
	}
	return nil
}

// Read decodes a Set written by Write.
func Read(r io.Reader) (Set, error) {
	var s Set
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return Set{}, fmt.Errorf("decode records: %w", err)
	}
	return s, nil
}
