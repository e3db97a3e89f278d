package observer

import "time"

// Pod deletions (etcd source): Linkerd's controller drops an endpoint
// whose pod is gone on the next event of its slice, before the slice drops
// it; these records let record.Analyze time such a Remove from the signal
// that allowed it (docs/latency.md).

// podDeletedLocked records that pod is gone from the API (its object
// deleted). A pod deleted while a slice still lists it keeps its first
// deletion time until that slice drops it.
func (o *Observer) podDeletedLocked(pod string, now time.Time) {
	if _, ok := o.podGone[pod]; !ok {
		o.podGone[pod] = now
	}
}

// maxTriggers bounds the slice events kept per endpoint: the latest ones
// are those a receipt is timed from.
const maxTriggers = 32

func appendTrigger(ts []time.Time, t time.Time) []time.Time {
	if len(ts) == maxTriggers {
		ts = append(ts[:0], ts[1:]...)
	}
	return append(ts, t)
}
