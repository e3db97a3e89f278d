package record

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestAnalyzeUpdateLatency(t *testing.T) {
	stream := func(sampled bool, opened, closed int) StreamInfo {
		s := StreamInfo{Client: "c", Stream: 1, Service: "ns/a", Sampled: sampled, Opened: at(opened)}
		if closed > 0 {
			s.Closed = at(closed)
		}
		return s
	}
	ready := func(ms int) EndpointChange {
		return EndpointChange{Service: "ns/a", Addr: "10.0.0.1:80", Ready: true, Time: at(ms)}
	}
	gone := func(ms int) EndpointChange {
		return EndpointChange{Service: "ns/a", Addr: "10.0.0.1:80", Ready: false, Time: at(ms)}
	}
	podGone := func(podMs, ms int) EndpointChange {
		c := gone(ms)
		c.PodGone = at(podMs)
		return c
	}
	withTriggers := func(c EndpointChange, ms ...int) EndpointChange {
		for _, m := range ms {
			c.Triggers = append(c.Triggers, at(m))
		}
		return c
	}
	rcpt := func(add bool, ms int, snapshot bool) Receipt {
		return Receipt{Client: "c", Stream: 1, Service: "ns/a", Addr: "10.0.0.1:80", Add: add, Time: at(ms), Snapshot: snapshot}
	}
	tests := []struct {
		name      string
		set       Set
		latencies []time.Duration
		missed    int
	}{
		{
			name:      "add and remove matched",
			set:       Set{Streams: []StreamInfo{stream(true, 0, 0)}, EndpointChanges: []EndpointChange{ready(100), gone(1000)}, Receipts: []Receipt{rcpt(true, 130, false), rcpt(false, 1250, false)}},
			latencies: []time.Duration{30 * time.Millisecond, 250 * time.Millisecond},
		},
		{
			name:      "receipt slightly before the observer is a negative latency, not a miss",
			set:       Set{Streams: []StreamInfo{stream(true, 0, 0)}, EndpointChanges: []EndpointChange{ready(100)}, Receipts: []Receipt{rcpt(true, 98, false)}},
			latencies: []time.Duration{-2 * time.Millisecond},
		},
		{
			name:      "no receipt before the address changes again is missed",
			set:       Set{Streams: []StreamInfo{stream(true, 0, 0)}, EndpointChanges: []EndpointChange{ready(100), gone(500)}, Receipts: []Receipt{rcpt(false, 520, false), rcpt(true, 600, false)}},
			latencies: []time.Duration{20 * time.Millisecond},
			missed:    1,
		},
		{
			name:   "snapshot receipt is neither latency nor miss",
			set:    Set{Streams: []StreamInfo{stream(true, 0, 0)}, EndpointChanges: []EndpointChange{ready(100)}, Receipts: []Receipt{rcpt(true, 900, true)}},
			missed: 0,
		},
		{
			name: "initial endpoints and changes outside the stream's life are not counted",
			set: Set{Streams: []StreamInfo{stream(true, 200, 2000)}, EndpointChanges: []EndpointChange{
				{Service: "ns/a", Addr: "10.0.0.1:80", Ready: true, Time: at(0), Initial: true}, gone(100), ready(3000),
			}},
		},
		{
			// The controller drops an endpoint whose pod is gone before
			// the slice changes: timed from the pod's deletion.
			name:      "remove after the pod's deletion, before the slice, is timed from the deletion",
			set:       Set{Streams: []StreamInfo{stream(true, 0, 0)}, EndpointChanges: []EndpointChange{ready(100), podGone(600, 1000)}, Receipts: []Receipt{rcpt(true, 130, false), rcpt(false, 640, false)}},
			latencies: []time.Duration{30 * time.Millisecond, 40 * time.Millisecond},
		},
		{
			name: "remove after a later event of its slice is timed from that event",
			set: Set{Streams: []StreamInfo{stream(true, 0, 0)}, EndpointChanges: []EndpointChange{ready(100), withTriggers(podGone(600, 1000), 700, 800, 950)},
				Receipts: []Receipt{rcpt(true, 130, false), rcpt(false, 820, false)}},
			latencies: []time.Duration{30 * time.Millisecond, 20 * time.Millisecond},
		},
		{
			name:      "remove after the slice changed is timed from the slice, even with a deletion before",
			set:       Set{Streams: []StreamInfo{stream(true, 0, 0)}, EndpointChanges: []EndpointChange{ready(100), podGone(600, 1000)}, Receipts: []Receipt{rcpt(true, 130, false), rcpt(false, 1010, false)}},
			latencies: []time.Duration{30 * time.Millisecond, 10 * time.Millisecond},
		},
		{
			name:      "remove before the pod's deletion stays negative",
			set:       Set{Streams: []StreamInfo{stream(true, 0, 0)}, EndpointChanges: []EndpointChange{ready(100), podGone(600, 1000)}, Receipts: []Receipt{rcpt(true, 130, false), rcpt(false, 590, false)}},
			latencies: []time.Duration{30 * time.Millisecond, -10 * time.Millisecond},
		},
		{
			name: "unsampled streams give no update latency",
			set:  Set{Streams: []StreamInfo{stream(false, 0, 0)}, EndpointChanges: []EndpointChange{ready(100)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Analyze(tt.set)
			var got []time.Duration
			for _, l := range a.UpdateLatencies {
				got = append(got, l.Latency)
			}
			if !reflect.DeepEqual(got, tt.latencies) {
				t.Errorf("latencies = %v, want %v", got, tt.latencies)
			}
			if len(a.MissedUpdates) != tt.missed {
				t.Errorf("missed = %d (%+v), want %d", len(a.MissedUpdates), a.MissedUpdates, tt.missed)
			}
		})
	}
}

func TestAnalyzeEvents(t *testing.T) {
	ev := ScaleEvent{Service: "ns/a", Seq: 1, Target: 3, Time: at(0)}
	conv := func(stream uint32, first, converged int, missed bool) StreamConvergence {
		c := StreamConvergence{Client: "c", Stream: stream, Service: "ns/a", Seq: 1, Target: 3, Missed: missed}
		if first >= 0 {
			c.FirstChange = at(first)
		}
		if converged >= 0 {
			c.Converged = at(converged)
		}
		return c
	}
	tests := []struct {
		name   string
		set    Set
		want   EventResult
		stream []StreamEventResult
	}{
		{
			name: "all converged gives fanout completion from k8s convergence",
			set: Set{
				ScaleEvents:       []ScaleEvent{ev},
				KubeConvergence:   []KubeConvergence{{Service: "ns/a", Seq: 1, Target: 3, Reached: true, Time: at(2000)}},
				StreamConvergence: []StreamConvergence{conv(2, 1500, 2300, false), conv(1, 1400, 2100, false)},
			},
			want: EventResult{Service: "ns/a", Seq: 1, Target: 3, Written: at(0), KubeReached: true, KubeConvergence: 2 * time.Second,
				Streams: 2, Converged: 2, FanoutComplete: true, FanoutCompletion: 300 * time.Millisecond, Outcome: OutcomeComplete},
			stream: []StreamEventResult{
				{Client: "c", Stream: 1, Service: "ns/a", Seq: 1, E2E: 2100 * time.Millisecond, FirstUpdate: 1400 * time.Millisecond, HasFirstUpdate: true},
				{Client: "c", Stream: 2, Service: "ns/a", Seq: 1, E2E: 2300 * time.Millisecond, FirstUpdate: 1500 * time.Millisecond, HasFirstUpdate: true},
			},
		},
		{
			name: "a missed stream leaves fanout incomplete",
			set: Set{
				ScaleEvents:       []ScaleEvent{ev},
				KubeConvergence:   []KubeConvergence{{Service: "ns/a", Seq: 1, Target: 3, Reached: true, Time: at(2000)}},
				StreamConvergence: []StreamConvergence{conv(1, 1400, 2100, false), conv(2, -1, -1, true)},
			},
			want: EventResult{Service: "ns/a", Seq: 1, Target: 3, Written: at(0), KubeReached: true, KubeConvergence: 2 * time.Second,
				Streams: 2, Converged: 1, Missed: 1, Outcome: OutcomeController},
			stream: []StreamEventResult{
				{Client: "c", Stream: 1, Service: "ns/a", Seq: 1, E2E: 2100 * time.Millisecond, FirstUpdate: 1400 * time.Millisecond, HasFirstUpdate: true},
				{Client: "c", Stream: 2, Service: "ns/a", Seq: 1, Missed: true},
			},
		},
		{
			name: "cluster never reached the target",
			set: Set{
				ScaleEvents:       []ScaleEvent{ev},
				KubeConvergence:   []KubeConvergence{{Service: "ns/a", Seq: 1, Target: 3}},
				StreamConvergence: []StreamConvergence{conv(1, 100, 200, false)},
			},
			want: EventResult{Service: "ns/a", Seq: 1, Target: 3, Written: at(0), Streams: 1, Converged: 1, Outcome: OutcomeRunEnded},
			stream: []StreamEventResult{
				{Client: "c", Stream: 1, Service: "ns/a", Seq: 1, E2E: 200 * time.Millisecond, FirstUpdate: 100 * time.Millisecond, HasFirstUpdate: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Analyze(tt.set)
			if len(a.Events) != 1 || !reflect.DeepEqual(a.Events[0], tt.want) {
				t.Errorf("events = %+v\nwant %+v", a.Events, tt.want)
			}
			if !reflect.DeepEqual(a.StreamEvents, tt.stream) {
				t.Errorf("stream events = %+v\nwant %+v", a.StreamEvents, tt.stream)
			}
		})
	}
}

func TestAnalyzeEndsAndRoundTrip(t *testing.T) {
	s := Set{
		Streams:       []StreamInfo{{Client: "c", Stream: 1, Service: "ns/a", Opened: at(0)}, {Client: "c", Stream: 2, Service: "ns/a", Sampled: true, Opened: at(0)}},
		StreamEnds:    []StreamEnd{{Cause: "Unavailable"}, {Cause: CauseEndOK}, {Cause: "Unavailable"}},
		ScaleFailures: []ScaleFailure{{Service: "ns/a", Error: "boom"}},
		Sampling:      []Sampling{{Client: "c", Streams: 2, Sampled: 1}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, s); err != nil {
		t.Fatal(err)
	}
	back, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Fatalf("round trip = %+v, want %+v", back, s)
	}
	a := Analyze(Merge(back, Set{}))
	want := []EndCount{{Cause: CauseEndOK, Count: 1}, {Cause: "Unavailable", Count: 2}}
	if !reflect.DeepEqual(a.Ends, want) {
		t.Errorf("ends = %v, want %v", a.Ends, want)
	}
	if a.SampledStreams != 1 || a.TotalStreams != 2 || a.ScaleFailures != 1 {
		t.Errorf("sampled/total/failures = %d/%d/%d, want 1/2/1", a.SampledStreams, a.TotalStreams, a.ScaleFailures)
	}
}

// TestEventOutcome attributes each event's end: the cluster's when it did
// not reach the target before the next event (or the run's end), the
// controller's when it did and a stream still missed.
func TestEventOutcome(t *testing.T) {
	ev := func(seq uint64, ms int) ScaleEvent {
		return ScaleEvent{Service: "ns/a", Seq: seq, Target: 3, Time: at(ms)}
	}
	kube := func(seq uint64, reached bool) KubeConvergence {
		k := KubeConvergence{Service: "ns/a", Seq: seq, Target: 3, Reached: reached}
		if reached {
			k.Time = at(int(seq)*1000 + 500)
		}
		return k
	}
	conv := func(seq uint64, missed bool) StreamConvergence {
		c := StreamConvergence{Client: "c", Stream: 1, Service: "ns/a", Seq: seq, Target: 3, Missed: missed}
		if !missed {
			c.Converged = at(int(seq)*1000 + 600)
		}
		return c
	}
	tests := []struct {
		name string
		set  Set
		want []string
	}{
		{"complete, then controller-limited", Set{
			ScaleEvents:       []ScaleEvent{ev(1, 1000), ev(2, 2000)},
			KubeConvergence:   []KubeConvergence{kube(1, true), kube(2, true)},
			StreamConvergence: []StreamConvergence{conv(1, false), conv(2, true)},
		}, []string{OutcomeComplete, OutcomeController}},
		{"superseded before the cluster got there, then the run ended", Set{
			ScaleEvents:       []ScaleEvent{ev(1, 1000), ev(2, 2000)},
			KubeConvergence:   []KubeConvergence{kube(1, false), kube(2, false)},
			StreamConvergence: []StreamConvergence{conv(1, true), conv(2, true)},
		}, []string{OutcomeClusterLimited, OutcomeRunEnded}},
		{"cluster-limited even when the streams followed what there was", Set{
			ScaleEvents:       []ScaleEvent{ev(1, 1000), ev(2, 2000)},
			KubeConvergence:   []KubeConvergence{kube(1, false), kube(2, true)},
			StreamConvergence: []StreamConvergence{conv(1, true), conv(2, false)},
		}, []string{OutcomeClusterLimited, OutcomeComplete}},
		{"no streams", Set{
			ScaleEvents:     []ScaleEvent{ev(1, 1000)},
			KubeConvergence: []KubeConvergence{kube(1, true)},
		}, []string{OutcomeNoStreams}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range Analyze(tt.set).Events {
				got = append(got, e.Outcome)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("outcomes %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAnalyzeFederated: on a federated run one service's events come from
// two clusters under one numbering; each event keeps its cluster and the
// union it asked for, a stream's convergence on it is the client's (it
// held the union), and each update latency names the cluster whose slices
// changed.
func TestAnalyzeFederated(t *testing.T) {
	set := Set{
		ScaleEvents: []ScaleEvent{
			{Service: "ns/a", Seq: 1, Target: 4, Expect: 7, Cluster: "tgt", Time: at(0)},
			{Service: "ns/a", Seq: 2, Target: 4, Expect: 8, Cluster: "src", Time: at(1000)},
			{Service: "ns/a", Seq: 3, Target: 1, Expect: 5, Cluster: "tgt", Time: at(2000)},
		},
		KubeConvergence: []KubeConvergence{
			{Service: "ns/a", Seq: 1, Target: 4, Reached: true, Time: at(100)},
			{Service: "ns/a", Seq: 2, Target: 4, Reached: true, Time: at(1100)},
			{Service: "ns/a", Seq: 3, Target: 1, Reached: true, Time: at(2100)},
		},
		Streams: []StreamInfo{{Client: "c", Stream: 1, Service: "ns/a", Sampled: true, Opened: at(-1000)}},
		StreamConvergence: []StreamConvergence{
			{Client: "c", Stream: 1, Service: "ns/a", Seq: 1, Target: 7, Converged: at(150)},
			{Client: "c", Stream: 1, Service: "ns/a", Seq: 2, Target: 8, Converged: at(1200)},
			{Client: "c", Stream: 1, Service: "ns/a", Seq: 3, Target: 5, Missed: true, Deadline: at(3000)},
		},
		EndpointChanges: []EndpointChange{
			{Service: "ns/a", Addr: "10.128.0.1:8080", Ready: true, Time: at(90), Cluster: "tgt"},
			{Service: "ns/a", Addr: "10.160.0.1:8080", Ready: true, Time: at(1090), Cluster: "src"},
		},
		Receipts: []Receipt{
			{Client: "c", Stream: 1, Service: "ns/a", Addr: "10.128.0.1:8080", Add: true, Time: at(140)},
			{Client: "c", Stream: 1, Service: "ns/a", Addr: "10.160.0.1:8080", Add: true, Time: at(1110)},
		},
	}
	a := Analyze(set)
	type ev struct {
		cluster         string
		seq             uint64
		target, expect  int
		outcome         string
		fanoutCompleted bool
	}
	want := []ev{{"tgt", 1, 4, 7, OutcomeComplete, true}, {"src", 2, 4, 8, OutcomeComplete, true}, {"tgt", 3, 1, 5, OutcomeController, false}}
	if len(a.Events) != len(want) {
		t.Fatalf("%d events, want %d", len(a.Events), len(want))
	}
	for i, w := range want {
		e := a.Events[i]
		if got := (ev{e.Cluster, e.Seq, e.Target, e.Expect, e.Outcome, e.FanoutComplete}); got != w {
			t.Errorf("event %d = %+v, want %+v", i, got, w)
		}
	}
	lat := map[string]time.Duration{}
	for _, l := range a.UpdateLatencies {
		lat[l.Cluster] = l.Latency
	}
	if want := map[string]time.Duration{"tgt": 50 * time.Millisecond, "src": 20 * time.Millisecond}; !reflect.DeepEqual(lat, want) {
		t.Errorf("update latencies by cluster = %v, want %v", lat, want)
	}
}
