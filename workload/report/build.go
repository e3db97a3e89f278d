package report

import (
	"sort"

	"github.com/dstload/dstload/workload/record"
	"github.com/dstload/dstload/workload/scenario"
)

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
	r.ByCluster = byCluster(a, r.Events)
	r.UpdateLatency = quantiles(upd)
	r.E2ELatency = quantiles(e2e)
	r.FirstUpdateLatency = quantiles(first)
	r.KubeConvergence = quantiles(kube)
	r.FanoutCompletion = quantiles(fanout)
	r.UpdateLatencyCDF = cdf(upd, 200)
	r.E2ELatencyCDF = cdf(e2e, 200)

	r.Totals = totals(in.Records, a, s.Clients.Streams)
	r.EndpointDiagnoses = diagnoses(in)
	r.ControllerLog = controllerLog(in)
	r.Timeline = timeline(in, r.EndpointDiagnoses)
	r.Totals.StaleEndpoints, r.Totals.StaleEndpointsWorstSeconds = worst(r.EndpointDiagnoses, record.KindStale)
	r.Totals.MissingEndpoints, r.Totals.MissingWorstSeconds = worst(r.EndpointDiagnoses, record.KindMissing)
	r.Destination = destination(in)
	r.Endpoints = endpointSeries(in.Records, s, 2000)
	r.Instrument = instrument(upd, addLead(a.UpdateLatencies), in.Records.Processes, r.Destination.CPUSeconds)
	for _, u := range a.UpdateLatencies {
		if u.FromPod {
			r.Instrument.RemovalsFromPod++
		}
	}
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
	applyFault(r, in.Fault)
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
	// A change belongs to the last event before it of its service in its
	// cluster (a federated run churns one service in two).
	bySvc := map[string][]record.EventResult{}
	for _, e := range a.Events {
		bySvc[e.Service+"@"+e.Cluster] = append(bySvc[e.Service+"@"+e.Cluster], e)
	}
	for _, es := range bySvc {
		sort.Slice(es, func(i, j int) bool { return es[i].Written.Before(es[j].Written) })
	}
	updates := map[key][]float64{}
	for _, l := range a.UpdateLatencies {
		es := bySvc[l.Service+"@"+l.Cluster]
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
			Service: e.Service, Seq: e.Seq, Target: e.Target, Written: e.Written.UTC(), Cluster: e.Cluster, Expect: e.Expect,
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

// addLead is how far the earliest Add came before the observer saw its
// endpoint in a slice, in seconds (0: none came before).
func addLead(upd []record.UpdateLatency) float64 {
	lead := 0.0
	for _, u := range upd {
		if u.Ready && u.Latency < 0 {
			lead = max(lead, -u.Latency.Seconds())
		}
	}
	return lead
}
