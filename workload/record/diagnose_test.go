package record

import (
	"reflect"
	"testing"
	"time"
)

func TestDiagnose(t *testing.T) {
	const a1, a2, a3 = "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"
	sec := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	ch := func(addr string, ready bool, s float64) EndpointChange {
		return EndpointChange{Service: "ns/a", Addr: addr, Ready: ready, Time: sec(s)}
	}
	miss := func(client string, stream uint32, seq uint64, deadline float64, held ...string) StreamConvergence {
		return StreamConvergence{Client: client, Stream: stream, Service: "ns/a", Seq: seq, Missed: true, Deadline: sec(deadline), Held: held}
	}
	rc := func(client string, stream uint32, addr string, add bool, s float64) Receipt {
		return Receipt{Client: client, Stream: stream, Service: "ns/a", Addr: addr, Add: add, Time: sec(s)}
	}
	snap := func(r Receipt) Receipt { r.Snapshot = true; return r }
	// a1 and a2 ready from the start; a2 leaves at 10 s.
	base := []EndpointChange{ch(a1, true, 0), ch(a2, true, 0), ch(a2, false, 10)}
	end := sec(100)
	tests := []struct {
		name string
		set  Set
		want []EndpointDiagnosis
	}{
		{
			name: "stale, never recovered, two clients",
			set: Set{EndpointChanges: base, StreamConvergence: []StreamConvergence{
				miss("c1", 1, 2, 40, a1, a2), miss("c1", 2, 2, 40, a1, a2), miss("c2", 1, 2, 40, a1, a2),
				// Still there at the next deadline: one diagnosis, two events.
				miss("c1", 1, 3, 70, a1, a2),
			}},
			want: []EndpointDiagnosis{{
				Service: "ns/a", Addr: a2, Kind: KindStale, Since: sec(10), FirstDeadline: sec(40), Seqs: []uint64{2, 3},
				Streams: 3, Clients: []ClientCount{{"c1", 2}, {"c2", 1}}, WrongFor: 90 * time.Second,
			}},
		},
		{
			name: "stale, recovered by a late Remove on one stream and a reconnect on the other",
			set: Set{EndpointChanges: base,
				StreamConvergence: []StreamConvergence{miss("c1", 1, 2, 40, a1, a2), miss("c1", 2, 2, 40, a1, a2)},
				Receipts:          []Receipt{rc("c1", 1, a2, false, 45)},
				StreamEnds:        []StreamEnd{{Client: "c1", Stream: 2, Service: "ns/a", Time: sec(50), Cause: "Unavailable"}},
			},
			want: []EndpointDiagnosis{{
				Service: "ns/a", Addr: a2, Kind: KindStale, Since: sec(10), FirstDeadline: sec(40), Seqs: []uint64{2},
				Streams: 2, Clients: []ClientCount{{"c1", 2}}, Recovered: 2, WrongFor: 40 * time.Second, RecoveredBy: sec(50),
			}},
		},
		{
			name: "a reconnect whose snapshot brings it back is still stale",
			set: Set{EndpointChanges: base,
				StreamConvergence: []StreamConvergence{miss("c1", 1, 2, 40, a1, a2)},
				StreamEnds:        []StreamEnd{{Client: "c1", Stream: 1, Service: "ns/a", Time: sec(50), Cause: "Unavailable"}},
				Receipts:          []Receipt{snap(rc("c1", 1, a1, true, 50)), snap(rc("c1", 1, a2, true, 50)), rc("c1", 1, a2, false, 80)},
			},
			want: []EndpointDiagnosis{{
				Service: "ns/a", Addr: a2, Kind: KindStale, Since: sec(10), FirstDeadline: sec(40), Seqs: []uint64{2},
				Streams: 1, Clients: []ClientCount{{"c1", 1}}, Recovered: 1, WrongFor: 70 * time.Second, RecoveredBy: sec(80),
			}},
		},
		{
			name: "missing: ready in the slices, never added",
			set: Set{EndpointChanges: append(append([]EndpointChange(nil), base...), ch(a3, true, 20)),
				StreamConvergence: []StreamConvergence{miss("c1", 1, 2, 40, a1)},
				Receipts:          []Receipt{rc("c1", 1, a3, true, 60)},
			},
			want: []EndpointDiagnosis{{
				Service: "ns/a", Addr: a3, Kind: KindMissing, Since: sec(20), FirstDeadline: sec(40), Seqs: []uint64{2},
				Streams: 1, Clients: []ClientCount{{"c1", 1}}, Recovered: 1, WrongFor: 40 * time.Second, RecoveredBy: sec(60),
			}},
		},
		{
			name: "stale that the slices list again ends there",
			set: Set{EndpointChanges: append(append([]EndpointChange(nil), base...), ch(a2, true, 55)),
				StreamConvergence: []StreamConvergence{miss("c1", 1, 2, 40, a1, a2)},
			},
			want: []EndpointDiagnosis{{
				Service: "ns/a", Addr: a2, Kind: KindStale, Since: sec(10), FirstDeadline: sec(40), Seqs: []uint64{2},
				Streams: 1, Clients: []ClientCount{{"c1", 1}}, Recovered: 1, WrongFor: 45 * time.Second, RecoveredBy: sec(55),
			}},
		},
		{
			name: "never listed at all",
			set:  Set{EndpointChanges: base, StreamConvergence: []StreamConvergence{miss("c1", 1, 2, 40, a1, "10.9.9.9:80")}},
			want: []EndpointDiagnosis{{
				Service: "ns/a", Addr: "10.9.9.9:80", Kind: KindStale, FirstDeadline: sec(40), Seqs: []uint64{2},
				Streams: 1, Clients: []ClientCount{{"c1", 1}}, WrongFor: 60 * time.Second,
			}},
		},
		{
			name: "changes within the grace before the deadline are in flight, not diagnosed",
			set: Set{EndpointChanges: []EndpointChange{ch(a1, true, 0), ch(a2, true, 0), ch(a2, false, 38), ch(a3, true, 39)},
				StreamConvergence: []StreamConvergence{miss("c1", 1, 2, 40, a1, a2)}},
			want: []EndpointDiagnosis{},
		},
		{
			name: "an address the stream got just before the observer saw it is not stale",
			set: Set{EndpointChanges: []EndpointChange{ch(a1, true, 0), ch(a3, true, 41)},
				StreamConvergence: []StreamConvergence{miss("c1", 1, 2, 40, a1, a3)}},
			want: []EndpointDiagnosis{},
		},
		{
			name: "converged streams and records without a deadline say nothing",
			set: Set{EndpointChanges: base, StreamConvergence: []StreamConvergence{
				{Client: "c1", Stream: 1, Service: "ns/a", Seq: 2, Converged: sec(12)},
				{Client: "c1", Stream: 2, Service: "ns/a", Seq: 2, Missed: true, Held: []string{a2}},
			}},
			want: []EndpointDiagnosis{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diagnose(tt.set, end)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Diagnose:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDiagnoseEndDefaultsToLatestRecord(t *testing.T) {
	set := Set{
		EndpointChanges:   []EndpointChange{{Service: "ns/a", Addr: "10.0.0.1:80", Ready: false, Time: at(0)}},
		StreamConvergence: []StreamConvergence{{Client: "c", Stream: 1, Service: "ns/a", Seq: 1, Missed: true, Deadline: at(10_000), Held: []string{"10.0.0.1:80"}}},
		Streams:           []StreamInfo{{Client: "c", Stream: 1, Service: "ns/a", Closed: at(30_000)}},
	}
	got := Diagnose(set, time.Time{})
	if len(got) != 1 || got[0].WrongFor != 30*time.Second {
		t.Fatalf("Diagnose = %+v, want one stale endpoint wrong for 30s (to the stream's close)", got)
	}
}
