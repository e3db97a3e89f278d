package report

import (
	"time"

	"github.com/dstload/dstload/workload/record"
)

// Timeline is what went wrong over the run, per interval: the stream ends
// (each is followed by a reconnect) and the stale and missing endpoints.
type Timeline struct {
	IntervalSeconds float64         `json:"intervalSeconds"`
	Points          []TimelinePoint `json:"points"`
}

// TimelinePoint is one interval starting at Time.
type TimelinePoint struct {
	Time time.Time `json:"time"`
	// StreamErrors and StreamResets are stream ends in the interval (error
	// status; status OK from the server); Reconnects all ends but the
	// lifetime renewals, each followed by a new Get call.
	StreamErrors int `json:"streamErrors"`
	StreamResets int `json:"streamResets"`
	Reconnects   int `json:"reconnects"`
	// StaleEndpoints and MissingEndpoints are the endpointDiagnoses wrong
	// at some point of the interval.
	StaleEndpoints   int `json:"staleEndpoints"`
	MissingEndpoints int `json:"missingEndpoints"`
}

// maxTimelinePoints bounds the timeline; the interval is at least 1 s.
const maxTimelinePoints = 240

func timeline(in Input, ds []Diagnosis) Timeline {
	start, end := in.Started, in.Ended
	if !end.After(start) {
		return Timeline{Points: []TimelinePoint{}}
	}
	step := max(time.Second, (end.Sub(start) / maxTimelinePoints).Round(time.Second))
	n := int(end.Sub(start)/step) + 1
	tl := Timeline{IntervalSeconds: step.Seconds(), Points: make([]TimelinePoint, n)}
	for i := range tl.Points {
		tl.Points[i].Time = start.Add(time.Duration(i) * step).UTC()
	}
	bucket := func(t time.Time) int { return min(max(int(t.Sub(start)/step), 0), n-1) }
	for _, e := range in.Records.StreamEnds {
		p := &tl.Points[bucket(e.Time)]
		switch e.Cause {
		case record.CauseLifetime:
			continue
		case record.CauseEndOK:
			p.StreamResets++
		default:
			p.StreamErrors++
		}
		p.Reconnects++
	}
	for _, d := range ds {
		from := d.Since
		if from.IsZero() {
			from = d.FirstDeadline
		}
		to := end
		if d.Recovered == d.Streams && !d.RecoveredBy.IsZero() {
			to = d.RecoveredBy
		}
		for i := bucket(from); i <= bucket(to); i++ {
			if d.Kind == record.KindStale {
				tl.Points[i].StaleEndpoints++
			} else {
				tl.Points[i].MissingEndpoints++
			}
		}
	}
	return tl
}
