// Package report turns a scenario run's records into dstload's verdict:
// report.json (a versioned schema, documented in docs/report-schema.md), report.md, a
// terminal summary, plots, and the A/B comparison of two reports.
//
// Every latency word is defined in docs/latency.md; the joining of churn, observer and
// client records is workload/record.Analyze, this package only aggregates
// and judges.
package report

import (
	"strings"
	"time"
)

// SchemaVersion is report.json's schema version. Readers refuse other major
// versions; fields are only ever added within a version.
const SchemaVersion = 1

// Verdicts. Inconclusive is a criterion (and a run) whose verdict the
// instrument cannot vouch for: it would have passed, but dstload's own
// error could have changed that (see Instrument).
const (
	Pass         = "pass"
	Fail         = "fail"
	Inconclusive = "inconclusive"
)

// Report is report.json. Durations are float seconds, times RFC 3339 UTC,
// memory bytes. Quantiles with count 0 have no data (their values are 0).
type Report struct {
	SchemaVersion int         `json:"schemaVersion"`
	Verdict       string      `json:"verdict"`
	Tool          Tool        `json:"tool"`
	Environment   Environment `json:"environment"`
	Scenario      Scenario    `json:"scenario"`
	Run           Run         `json:"run"`
	Sampling      Sampling    `json:"sampling"`

	// Run-wide distributions (docs/latency.md).
	UpdateLatency      Quantiles `json:"updateLatency"`
	E2ELatency         Quantiles `json:"e2eLatency"`
	FirstUpdateLatency Quantiles `json:"firstUpdateLatency"`
	KubeConvergence    Quantiles `json:"kubeConvergence"`
	FanoutCompletion   Quantiles `json:"fanoutCompletion"`
	// UpdateLatencyCDF is the update-latency distribution at up to 201
	// points (the plot's data; lets compare and re-plotting work from JSON).
	UpdateLatencyCDF []CDFPoint `json:"updateLatencyCDF"`
	E2ELatencyCDF    []CDFPoint `json:"e2eLatencyCDF"`

	Events []Event `json:"events"`
	// ByCluster (federated: both clusters' endpoints churn) splits the
	// latencies by the cluster whose change they measure.
	ByCluster []ClusterFigures `json:"byCluster,omitempty"`
	// EndpointDiagnoses name the stale and missing endpoints found at the
	// events' deadlines (record.Diagnose); ControllerLog is the
	// destination controller's own errors and warnings (absent when dstload
	// did not supervise it).
	EndpointDiagnoses []Diagnosis    `json:"endpointDiagnoses"`
	ControllerLog     *ControllerLog `json:"controllerLog,omitempty"`
	// Timeline is stream ends and wrong endpoints per interval of the run.
	Timeline    Timeline        `json:"timeline"`
	Totals      Totals          `json:"totals"`
	Destination Destination     `json:"destination"`
	Endpoints   []EndpointPoint `json:"endpoints"`
	// Instrument is how far dstload's own measurement can be trusted.
	Instrument Instrument `json:"instrument"`
	// Subscribers is where the streams sat and what each cost
	// (subscribers.go); Sweep the subscriber sweep's steps and fit.
	Subscribers *Subscribers      `json:"subscribers,omitempty"`
	Sweep       *Sweep            `json:"sweep,omitempty"`
	Criteria    []CriterionResult `json:"criteria"`
	// Fault is what stopped the run early (nil: it ran to its end).
	Fault *Fault `json:"fault,omitempty"`
	// Monitoring links the run's window to the environment's Prometheus
	// (nil: none watched it).
	Monitoring *Monitoring `json:"monitoring,omitempty"`
}

// Tool is the dstload build that wrote the report.
type Tool struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	GoVersion string `json:"goVersion"`
}

// Environment is where the scenario ran.
type Environment struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
	// ClockSource says how observer and client clocks relate: "single host
	// clock" when every recorder ran on one host, else how they were synced.
	ClockSource string   `json:"clockSource"`
	Versions    Versions `json:"versions"`
	// DestinationAddr is the gRPC address the clients used.
	DestinationAddr string `json:"destinationAddr"`
	// DestinationBin and DestinationArgs are the controller dstload ran
	// (local provider): its binary ("" = the image's) and the extra flags
	// given with `up --destination-arg`.
	DestinationBin  string   `json:"destinationBin,omitempty"`
	DestinationArgs []string `json:"destinationArgs,omitempty"`
	OS              string   `json:"os"`
	Arch            string   `json:"arch"`
	CPUs            int      `json:"cpus"`
	// Clusters is set for a multicluster run: where the measured changes
	// happen and where they are seen.
	Clusters *Clusters `json:"clusters,omitempty"`
}

// Clusters says, for a multicluster run, which cluster each figure belongs
// to: every latency and convergence is a change of the endpoints in
// Endpoints (its EndpointSlices, its churn, its observer) reaching the
// clients of Clients' destination controller.
type Clusters struct {
	// Mode is the scenario's multicluster mode (remote-discovery).
	Mode string `json:"mode"`
	// Endpoints is one cluster, or (federated) both, comma-separated:
	// each event and latency then names its own (Event.Cluster, ByCluster).
	Endpoints string `json:"endpoints"`
	Clients   string `json:"clients"`
}

// EndpointsText is Endpoints for a sentence: "a" or "a and b".
func (c *Clusters) EndpointsText() string { return strings.ReplaceAll(c.Endpoints, ",", " and ") }

// Versions of what was measured and what measured it.
type Versions struct {
	Dstload     string `json:"dstload"`
	Kubernetes  string `json:"kubernetes,omitempty"`
	Linkerd     string `json:"linkerd,omitempty"`
	Destination string `json:"destination,omitempty"`
}

// Scenario is the effective scenario (after --scale and the overrides).
type Scenario struct {
	Name        string `json:"name"`
	Source      string `json:"source"`
	Description string `json:"description,omitempty"`
	Shape       string `json:"shape"`
	Services    int    `json:"services"`
	// EndpointsStart is each Deployment's replica count before the churn.
	EndpointsStart  int     `json:"endpointsStart"`
	Pattern         string  `json:"pattern"`
	Min             int     `json:"min,omitempty"`
	Max             int     `json:"max,omitempty"`
	HoldMaxSeconds  float64 `json:"holdMaxSeconds,omitempty"`
	HoldMinSeconds  float64 `json:"holdMinSeconds,omitempty"`
	JitterSeconds   float64 `json:"jitterSeconds,omitempty"`
	Cycles          int     `json:"cycles,omitempty"`
	DurationSeconds float64 `json:"durationSeconds,omitempty"`
	SettleSeconds   float64 `json:"settleSeconds"`
	Streams         int     `json:"streams"`
	Processes       int     `json:"processes"`
	Connections     int     `json:"connections"`
	SampleStreams   int     `json:"sampleStreams"`
	// ClientNodes and Zones are where the client processes sit (local
	// provider; in a cluster the pods' own nodes, see Subscribers).
	ClientNodes int `json:"clientNodes"`
	Zones       int `json:"zones,omitempty"`
	// SweepSteps are a sweep's stream totals.
	SweepSteps []int     `json:"sweepSteps,omitempty"`
	Overrides  Overrides `json:"overrides"`
}

// Overrides records what the command line changed.
type Overrides struct {
	Scale           float64 `json:"scale,omitempty"`
	DurationSeconds float64 `json:"durationSeconds,omitempty"`
	Cycles          *int    `json:"cycles,omitempty"`
	HoldMaxSeconds  float64 `json:"holdMaxSeconds,omitempty"`
	HoldMinSeconds  float64 `json:"holdMinSeconds,omitempty"`
	SettleSeconds   float64 `json:"settleSeconds,omitempty"`
	ClientNodes     int     `json:"clientNodes,omitempty"`
}

// Run is when the run happened.
type Run struct {
	Started         time.Time `json:"started"`
	Ended           time.Time `json:"ended"`
	DurationSeconds float64   `json:"durationSeconds"`
	// LoadStart..LoadEnd is the window in which every stream was open and
	// the scenario's load was held; subscriptions and memory growth are
	// judged inside it.
	LoadStart time.Time `json:"loadStart"`
	LoadEnd   time.Time `json:"loadEnd"`
	Phases    []Phase   `json:"phases,omitempty"`
}

// Phase is one step of `dstload run`.
type Phase struct {
	Name    string    `json:"name"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
}

// Sampling states which streams recorded per-endpoint receipts (the update
// latency samples); convergence is recorded by every stream.
type Sampling struct {
	Streams        int     `json:"streams"`
	SampledStreams int     `json:"sampledStreams"`
	Rate           float64 `json:"rate"`
}
