package observer

import (
	"net/netip"
	"time"
)

// Pod deletions (etcd source): Linkerd's controller drops an endpoint
// whose pod is gone on the next event of its slice, before the slice drops
// it; these records let record.Analyze time such a Remove from the signal
// that allowed it (docs/latency.md).

// podDeletedLocked records that pod is gone from the API (its object
// deleted). A pod deleted while a slice still lists it keeps its first
// deletion time until that slice drops it. A pod no slice lists ready is
// not kept: no endpoint of it is left to remove, and keeping every
// deletion would grow without end over a long run.
func (o *Observer) podDeletedLocked(pod string, now time.Time) {
	if _, ok := o.podGone[pod]; !ok && o.listed[pod] > 0 {
		o.podGone[pod] = now
	}
}

// listPodsLocked moves one slice's ready listings from before to after.
// It runs after the slice's removals were recorded: a pod that no slice
// lists any more takes its deletion with it. New listings count first, so
// a pod listed under another address in after keeps its deletion.
func (o *Observer) listPodsLocked(before, after map[netip.AddrPort]string) {
	for a, pod := range after {
		if pod != "" && before[a] != pod {
			o.listed[pod]++
		}
	}
	for a, pod := range before {
		if pod != "" && after[a] != pod {
			if o.listed[pod]--; o.listed[pod] <= 0 {
				delete(o.listed, pod)
				delete(o.podGone, pod)
			}
		}
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
