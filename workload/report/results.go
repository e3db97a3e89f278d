package report

import (
	"time"

	"github.com/dstload/dstload/workload/ctrllog"
	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/scenario"
)

// Quantiles of a latency distribution, in seconds.
type Quantiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// CDFPoint is one point of a cumulative distribution.
type CDFPoint struct {
	Seconds  float64 `json:"seconds"`
	Fraction float64 `json:"fraction"`
}

// Event is one scale event's row.
type Event struct {
	Service string    `json:"service"`
	Seq     uint64    `json:"seq"`
	Target  int       `json:"target"`
	Written time.Time `json:"written"`
	// Cluster (federated) is the cluster whose Deployment the event
	// scaled; Target and the k8s convergence are then that cluster's, and
	// Expect is the union of both clusters' members a stream converges to.
	Cluster string `json:"cluster,omitempty"`
	Expect  int    `json:"expect,omitempty"`
	// KubeConvergenceSeconds (valid when kubeReached): ready endpoints ==
	// target, measured from the write.
	KubeReached            bool    `json:"kubeReached"`
	KubeConvergenceSeconds float64 `json:"kubeConvergenceSeconds"`
	Streams                int     `json:"streams"`
	Converged              int     `json:"converged"`
	Missed                 int     `json:"missed"`
	// FanoutCompletionSeconds (valid when fanoutComplete): last stream's
	// convergence - k8s convergence.
	FanoutComplete          bool    `json:"fanoutComplete"`
	FanoutCompletionSeconds float64 `json:"fanoutCompletionSeconds"`
	// Outcome is whose the event's end was: complete, cluster-limited
	// (the cluster did not reach the target before the next event),
	// controller (it did, and a stream did not converge), run-ended, or
	// no-streams (record.Outcome*).
	Outcome     string    `json:"outcome"`
	E2E         Quantiles `json:"e2e"`
	FirstUpdate Quantiles `json:"firstUpdate"`
	// UpdateLatency covers the endpoint changes of this service observed
	// from this event's write until the service's next event.
	UpdateLatency Quantiles `json:"updateLatency"`
}

// Totals are the run's counts.
type Totals struct {
	ScaleEvents     int `json:"scaleEvents"`
	ScaleFailures   int `json:"scaleFailures"`
	EndpointChanges int `json:"endpointChanges"`
	StreamsExpected int `json:"streamsExpected"`
	Streams         int `json:"streams"`
	Reconnects      int `json:"reconnects"`
	// Updates is the number of update-latency samples; MissedUpdates the
	// endpoint changes a sampled stream never received.
	Updates       int `json:"updates"`
	MissedUpdates int `json:"missedUpdates"`
	// StreamEvents are stream x event pairs; MissedStreams those that did
	// not converge before the next event.
	StreamEvents  int `json:"streamEvents"`
	MissedStreams int `json:"missedStreams"`
	// ClusterLimitedMissedStreams are the MissedStreams of events the
	// cluster never completed (cluster-limited, run-ended): the
	// missed_streams criterion does not count them.
	ClusterLimitedMissedStreams int `json:"clusterLimitedMissedStreams"`
	// EventOutcomes counts events by Event.Outcome.
	EventOutcomes map[string]int `json:"eventOutcomes"`
	// StreamErrors are stream ends with an error status; StreamResets ends
	// with status OK from the server (queue overflow). Lifetime renewals
	// count in StreamEnds only.
	StreamErrors int            `json:"streamErrors"`
	StreamResets int            `json:"streamResets"`
	StreamEnds   map[string]int `json:"streamEnds"`
	// StaleEndpoints and MissingEndpoints count the endpointDiagnoses of
	// each kind; the *WorstSeconds are their longest wrong times.
	StaleEndpoints             int     `json:"staleEndpoints"`
	StaleEndpointsWorstSeconds float64 `json:"staleEndpointsWorstSeconds"`
	MissingEndpoints           int     `json:"missingEndpoints"`
	MissingWorstSeconds        float64 `json:"missingEndpointsWorstSeconds"`
}

// Destination is the destination controller's resource series and its
// summary.
type Destination struct {
	MetricsURL      string              `json:"metricsURL,omitempty"`
	IntervalSeconds float64             `json:"intervalSeconds,omitempty"`
	Samples         []dstmetrics.Sample `json:"samples"`
	ScrapeErrors    int                 `json:"scrapeErrors"`
	// Memory and subscriber figures; *Load* ones are inside the load window.
	MemoryMaxBytes       float64 `json:"memoryMaxBytes"`
	MemoryLoadStartBytes float64 `json:"memoryLoadStartBytes"`
	MemoryLoadEndBytes   float64 `json:"memoryLoadEndBytes"`
	CPUSeconds           float64 `json:"cpuSeconds"`
	GoroutinesMax        float64 `json:"goroutinesMax"`
	SubscribersLoadMin   float64 `json:"subscribersLoadMin"`
	SubscribersMax       float64 `json:"subscribersMax"`
	QueueOverflows       float64 `json:"queueOverflows"`
	Restarts             int     `json:"restarts"`
	// LoadSamples is how many good samples fell in the load window.
	LoadSamples int `json:"loadSamples"`
	// MemoryGrowthPerHourBytes is the slope of a least-squares line through
	// resident memory over the load window, per hour, from
	// MemorySlopeSamples samples.
	MemoryGrowthPerHourBytes float64 `json:"memoryGrowthPerHourBytes"`
	MemorySlopeSamples       int     `json:"memorySlopeSamples"`
}

// EndpointPoint is the endpoints desired (sum of scale targets) and observed
// ready (EndpointSlices, all services) at one time.
type EndpointPoint struct {
	Time     time.Time `json:"time"`
	Desired  int       `json:"desired"`
	Observed int       `json:"observed"`
}

// CriterionResult is one judged criterion.
type CriterionResult struct {
	Metric      string `json:"metric"`
	Description string `json:"description"`
	Unit        string `json:"unit"`
	// Threshold as written ("< 500ms"); Min/Max in the unit.
	Threshold string   `json:"threshold"`
	Min       *float64 `json:"min,omitempty"`
	Max       *float64 `json:"max,omitempty"`
	// Measured is null when there was no data to judge.
	Measured     *float64 `json:"measured"`
	MeasuredText string   `json:"measuredText"`
	Verdict      string   `json:"verdict"`
	Reason       string   `json:"reason,omitempty"`
}

// Input is what a run hands the report.
type Input struct {
	Scenario    *scenario.Scenario
	Overrides   scenario.Overrides
	Tool        Tool
	Environment Environment

	Started, Ended     time.Time
	LoadStart, LoadEnd time.Time
	Phases             []Phase

	Records record.Set
	// HostCPUBusy is the host's CPU busy share over the load window (0:
	// not measured).
	HostCPUBusy     float64
	MetricsURL      string
	MetricsInterval time.Duration
	Destination     []dstmetrics.Sample
	// HeapProfiles are the heap profiles taken before the first stream
	// and at the load's end; SweepSteps a sweep's steps (nil: no sweep).
	HeapProfiles HeapProfiles
	SweepSteps   []SweepStep
	// Fault stopped the run early (nil: none).
	Fault *Fault
	// ControllerLog holds the destination controller's error and warning
	// lines of the run, read from ControllerLogSource ("" when dstload
	// did not supervise it); ControllerLogError says why it could not be
	// read.
	ControllerLog       []ctrllog.Line
	ControllerLogSource string
	ControllerLogError  string
}
