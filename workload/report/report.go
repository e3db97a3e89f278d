// Package report turns a scenario run's records into dstload's verdict:
// report.json (a versioned schema, documented in SCHEMA.md), report.md, a
// terminal summary, plots, and the A/B comparison of two reports.
//
// Every latency word is defined in docs/latency.md; the joining of churn, observer and
// client records is workload/record.Analyze, this package only aggregates
// and judges.
package report

import (
	"math"
	"sort"
	"time"

	"github.com/dstload/dstload/workload/dstmetrics"
	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/scenario"
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

	Events      []Event         `json:"events"`
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
}

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
}

// Build aggregates and judges a run.
func Build(in Input) *Report {
	a := record.Analyze(in.Records)
	s := in.Scenario
	r := &Report{
		SchemaVersion: SchemaVersion,
		Tool:          in.Tool,
		Environment:   in.Environment,
		Scenario:      scenarioInfo(s, in.Overrides),
		Run: Run{
			Started: in.Started.UTC(), Ended: in.Ended.UTC(), DurationSeconds: in.Ended.Sub(in.Started).Seconds(),
			LoadStart: in.LoadStart.UTC(), LoadEnd: in.LoadEnd.UTC(), Phases: in.Phases,
		},
	}

	r.Sampling = Sampling{Streams: a.TotalStreams, SampledStreams: a.SampledStreams}
	if a.TotalStreams > 0 {
		r.Sampling.Rate = float64(a.SampledStreams) / float64(a.TotalStreams)
	}

	var upd, e2e, first, kube, fanout []float64
	for _, l := range a.UpdateLatencies {
		upd = append(upd, l.Latency.Seconds())
	}
	for _, se := range a.StreamEvents {
		if !se.Missed {
			e2e = append(e2e, se.E2E.Seconds())
		}
		if se.HasFirstUpdate {
			first = append(first, se.FirstUpdate.Seconds())
		}
	}
	r.Events = events(a)
	for _, e := range r.Events {
		if e.KubeReached {
			kube = append(kube, e.KubeConvergenceSeconds)
		}
		if e.FanoutComplete {
			fanout = append(fanout, e.FanoutCompletionSeconds)
		}
	}
	r.UpdateLatency = quantiles(upd)
	r.E2ELatency = quantiles(e2e)
	r.FirstUpdateLatency = quantiles(first)
	r.KubeConvergence = quantiles(kube)
	r.FanoutCompletion = quantiles(fanout)
	r.UpdateLatencyCDF = cdf(upd, 200)
	r.E2ELatencyCDF = cdf(e2e, 200)

	r.Totals = totals(in.Records, a, s.Clients.Streams)
	r.Destination = destination(in)
	r.Endpoints = endpointSeries(in.Records, s, 2000)
	r.Instrument = instrument(upd, in.Records.Processes, r.Destination.CPUSeconds)
	r.Instrument.HostCPUBusy = in.HostCPUBusy
	r.Subscribers = subscribers(in, in.LoadStart, in.LoadEnd)
	if in.SweepSteps != nil {
		r.Sweep = buildSweep(in.SweepSteps, in.Destination)
	}
	r.Criteria = judge(r, s)
	r.Verdict = Pass
	for _, c := range r.Criteria {
		switch {
		case c.Verdict == Fail:
			r.Verdict = Fail
		case c.Verdict == Inconclusive && r.Verdict == Pass:
			r.Verdict = Inconclusive
		}
	}
	return r
}

func scenarioInfo(s *scenario.Scenario, o scenario.Overrides) Scenario {
	info := Scenario{
		Name: s.Name, Source: s.Source, Description: s.Description, Shape: s.Shape(),
		Services: s.Services.Count, EndpointsStart: s.Services.Endpoints,
		Pattern: s.Churn.Pattern, Min: s.Churn.Min, Max: s.Churn.Max,
		HoldMaxSeconds: s.Churn.HoldMax.Seconds(), HoldMinSeconds: s.Churn.HoldMin.Seconds(),
		JitterSeconds: s.Churn.Jitter.Seconds(), Cycles: s.Churn.Cycles,
		DurationSeconds: s.Churn.Duration.Seconds(), SettleSeconds: s.Settle.Seconds(),
		Streams: s.Clients.Streams, Processes: s.Clients.Processes, Connections: s.Clients.Connections,
		SampleStreams: s.Clients.SampleStreams, ClientNodes: s.ClientNodes(), Zones: s.Clients.Zones,
		Overrides: Overrides{
			Scale: o.Scale, DurationSeconds: o.Duration.Seconds(), HoldMaxSeconds: o.HoldMax.Seconds(),
			HoldMinSeconds: o.HoldMin.Seconds(), SettleSeconds: o.Settle.Seconds(), ClientNodes: o.Nodes,
		},
	}
	if s.Sweep != nil {
		info.SweepSteps = append([]int(nil), s.Sweep.Steps...)
	}
	if o.Cycles >= 0 {
		c := o.Cycles
		info.Overrides.Cycles = &c
	}
	return info
}

// events builds the per-event rows, attributing each update latency to the
// service's event in force when the observer saw the change.
func events(a record.Analysis) []Event {
	type key struct {
		svc string
		seq uint64
	}
	perStream := map[key][]record.StreamEventResult{}
	for _, se := range a.StreamEvents {
		k := key{se.Service, se.Seq}
		perStream[k] = append(perStream[k], se)
	}
	bySvc := map[string][]record.EventResult{}
	for _, e := range a.Events {
		bySvc[e.Service] = append(bySvc[e.Service], e)
	}
	for _, es := range bySvc {
		sort.Slice(es, func(i, j int) bool { return es[i].Written.Before(es[j].Written) })
	}
	updates := map[key][]float64{}
	for _, l := range a.UpdateLatencies {
		es := bySvc[l.Service]
		i := sort.Search(len(es), func(i int) bool { return es[i].Written.After(l.Observed) }) - 1
		if i >= 0 {
			k := key{l.Service, es[i].Seq}
			updates[k] = append(updates[k], l.Latency.Seconds())
		}
	}
	out := make([]Event, 0, len(a.Events))
	for _, e := range a.Events {
		k := key{e.Service, e.Seq}
		var e2e, first []float64
		for _, se := range perStream[k] {
			if !se.Missed {
				e2e = append(e2e, se.E2E.Seconds())
			}
			if se.HasFirstUpdate {
				first = append(first, se.FirstUpdate.Seconds())
			}
		}
		out = append(out, Event{
			Service: e.Service, Seq: e.Seq, Target: e.Target, Written: e.Written.UTC(),
			KubeReached: e.KubeReached, KubeConvergenceSeconds: e.KubeConvergence.Seconds(),
			Streams: e.Streams, Converged: e.Converged, Missed: e.Missed,
			FanoutComplete: e.FanoutComplete, FanoutCompletionSeconds: e.FanoutCompletion.Seconds(), Outcome: e.Outcome,
			E2E: quantiles(e2e), FirstUpdate: quantiles(first), UpdateLatency: quantiles(updates[k]),
		})
	}
	return out
}

func totals(set record.Set, a record.Analysis, expected int) Totals {
	t := Totals{
		ScaleEvents: len(set.ScaleEvents), ScaleFailures: a.ScaleFailures,
		StreamsExpected: expected, Streams: a.TotalStreams,
		Updates: len(a.UpdateLatencies), MissedUpdates: len(a.MissedUpdates),
		StreamEvents: len(a.StreamEvents), StreamEnds: map[string]int{},
	}
	for _, c := range set.EndpointChanges {
		if !c.Initial {
			t.EndpointChanges++
		}
	}
	for _, s := range set.Streams {
		t.Reconnects += s.Reconnects
	}
	limited := map[string]map[uint64]bool{}
	t.EventOutcomes = map[string]int{}
	for _, e := range a.Events {
		t.EventOutcomes[e.Outcome]++
		if e.Outcome == record.OutcomeClusterLimited || e.Outcome == record.OutcomeRunEnded {
			if limited[e.Service] == nil {
				limited[e.Service] = map[uint64]bool{}
			}
			limited[e.Service][e.Seq] = true
		}
	}
	for _, se := range a.StreamEvents {
		if se.Missed {
			t.MissedStreams++
			if limited[se.Service][se.Seq] {
				t.ClusterLimitedMissedStreams++
			}
		}
	}
	for _, e := range a.Ends {
		t.StreamEnds[e.Cause] = e.Count
		switch e.Cause {
		case record.CauseLifetime:
		case record.CauseEndOK:
			t.StreamResets += e.Count
		default:
			t.StreamErrors += e.Count
		}
	}
	return t
}

func destination(in Input) Destination {
	d := Destination{MetricsURL: in.MetricsURL, IntervalSeconds: in.MetricsInterval.Seconds(), Samples: in.Destination}
	if d.Samples == nil {
		d.Samples = []dstmetrics.Sample{}
	}
	var first, last *dstmetrics.Sample
	d.SubscribersLoadMin = math.Inf(1)
	upBefore := false
	for i := range in.Destination {
		s := &in.Destination[i]
		if !s.OK() {
			d.ScrapeErrors++
			continue
		}
		if first == nil {
			first = s
		} else if s.StartTime != last.StartTime || s.CPUSeconds < last.CPUSeconds {
			// A new process: its counters restart from zero.
			d.Restarts++
			d.QueueOverflows += last.QueueOverflows
			d.CPUSeconds += last.CPUSeconds
		}
		last = s
		upBefore = true
		d.MemoryMaxBytes = max(d.MemoryMaxBytes, s.ResidentMemoryBytes)
		d.GoroutinesMax = max(d.GoroutinesMax, s.Goroutines)
		d.SubscribersMax = max(d.SubscribersMax, s.Subscribers)
		if inWindow(s.Time, in.LoadStart, in.LoadEnd) {
			if d.LoadSamples == 0 {
				d.MemoryLoadStartBytes = s.ResidentMemoryBytes
			}
			d.LoadSamples++
			d.MemoryLoadEndBytes = s.ResidentMemoryBytes
			d.SubscribersLoadMin = min(d.SubscribersLoadMin, s.Subscribers)
		}
	}
	if first != nil {
		d.QueueOverflows += last.QueueOverflows - first.QueueOverflows
		d.CPUSeconds += last.CPUSeconds - first.CPUSeconds
	}
	// The controller stopped answering and never came back: count it as a
	// crash, since the run cannot tell it from one.
	if n := len(in.Destination); upBefore && n > 0 && !in.Destination[n-1].OK() {
		d.Restarts++
	}
	if d.LoadSamples == 0 {
		d.SubscribersLoadMin = 0
	}
	return d
}

func inWindow(t, from, to time.Time) bool {
	return !from.IsZero() && !t.Before(from) && (to.IsZero() || !t.After(to))
}

// endpointSeries replays scale targets and observed endpoint changes into
// desired vs observed totals, thinned to at most maxPoints.
func endpointSeries(set record.Set, s *scenario.Scenario, maxPoints int) []EndpointPoint {
	type step struct {
		t       time.Time
		service string
		target  int
		addr    string
		ready   bool
		isScale bool
	}
	var steps []step
	for _, e := range set.ScaleEvents {
		steps = append(steps, step{t: e.Time, service: e.Service, target: e.Target, isScale: true})
	}
	for _, c := range set.EndpointChanges {
		steps = append(steps, step{t: c.Time, service: c.Service, addr: c.Addr, ready: c.Ready})
	}
	if len(steps) == 0 {
		return []EndpointPoint{}
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].t.Before(steps[j].t) })

	targets := map[string]int{}
	desired := 0
	services := map[string]bool{}
	for _, st := range steps {
		services[st.service] = true
	}
	// Before its first event a service is at the scenario's start size.
	for svc := range services {
		targets[svc] = s.Services.Endpoints
		desired += s.Services.Endpoints
	}
	ready := map[string]bool{}
	var pts []EndpointPoint
	for _, st := range steps {
		if st.isScale {
			desired += st.target - targets[st.service]
			targets[st.service] = st.target
		} else {
			k := st.service + "|" + st.addr
			ready[k] = st.ready
			if !st.ready {
				delete(ready, k)
			}
		}
		p := EndpointPoint{Time: st.t.UTC(), Desired: desired, Observed: len(ready)}
		if n := len(pts); n > 0 && pts[n-1].Time.Equal(p.Time) {
			pts[n-1] = p
			continue
		}
		pts = append(pts, p)
	}
	if len(pts) <= maxPoints {
		return pts
	}
	// Thin by time buckets, keeping each bucket's last state and every
	// change of desired (the steps people look for).
	start, end := pts[0].Time, pts[len(pts)-1].Time
	bucket := end.Sub(start) / time.Duration(maxPoints/2)
	var out []EndpointPoint
	for i, p := range pts {
		last := i == len(pts)-1
		nextInOtherBucket := !last && pts[i+1].Time.Sub(start)/bucket != p.Time.Sub(start)/bucket
		desiredChanges := !last && pts[i+1].Desired != p.Desired
		if i == 0 || last || nextInOtherBucket || desiredChanges {
			out = append(out, p)
		}
	}
	return out
}

// quantiles uses the nearest-rank method: p-quantile = the smallest sample
// with at least p of the samples at or below it.
func quantiles(v []float64) Quantiles {
	if len(v) == 0 {
		return Quantiles{}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	return Quantiles{
		Count: len(s), P50: rank(s, 0.50), P95: rank(s, 0.95), P99: rank(s, 0.99),
		P999: rank(s, 0.999), Max: s[len(s)-1], Mean: sum / float64(len(s)),
	}
}

func rank(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// cdf returns up to n+1 points of the empirical CDF.
func cdf(v []float64, n int) []CDFPoint {
	out := []CDFPoint{}
	if len(v) == 0 {
		return out
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) <= n {
		for i, x := range s {
			out = append(out, CDFPoint{Seconds: x, Fraction: float64(i+1) / float64(len(s))})
		}
		return out
	}
	for k := 0; k <= n; k++ {
		f := float64(k) / float64(n)
		out = append(out, CDFPoint{Seconds: rank(s, f), Fraction: f})
	}
	return out
}
