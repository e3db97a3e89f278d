package observer

import (
	"io"
	"log/slog"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"

	"github.com/dstload/dstload/workload/record"
)

func set(addrs ...string) map[netip.AddrPort]struct{} {
	m := map[netip.AddrPort]struct{}{}
	for _, a := range addrs {
		m[netip.MustParseAddrPort(a)] = struct{}{}
	}
	return m
}

// TestConvergence drives the observer's bookkeeping directly (the watch
// itself is covered by workload/e2e on a real cluster).
func TestConvergence(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	o := New(slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), "ns", []string{"a"}, "")
	svc := o.services["a"]
	o.apply(svc, set("10.0.0.1:80"), at(0), true)
	o.Expect(record.ScaleEvent{Service: "ns/a", Seq: 1, Target: 3, Time: at(10)})
	o.apply(svc, set("10.0.0.1:80", "10.0.0.2:80"), at(100), false)
	o.apply(svc, set("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"), at(200), false)
	// An event that is never reached, then one whose target already holds.
	o.Expect(record.ScaleEvent{Service: "ns/a", Seq: 2, Target: 1, Time: at(300)})
	o.apply(svc, set("10.0.0.1:80", "10.0.0.3:80"), at(400), false)
	o.Expect(record.ScaleEvent{Service: "ns/a", Seq: 3, Target: 2, Time: at(500)})
	o.Expect(record.ScaleEvent{Service: "ns/a", Seq: 4, Target: 5, Time: at(600)})
	o.Finish()

	r := o.Records()
	wantKube := []record.KubeConvergence{
		{Service: "ns/a", Seq: 1, Target: 3, Reached: true, Time: at(200)},
		{Service: "ns/a", Seq: 2, Target: 1},
		{Service: "ns/a", Seq: 3, Target: 2, Reached: true, Time: at(500)},
		{Service: "ns/a", Seq: 4, Target: 5},
	}
	if !reflect.DeepEqual(r.KubeConvergence, wantKube) {
		t.Errorf("kube convergence:\n got %+v\nwant %+v", r.KubeConvergence, wantKube)
	}
	wantChanges := []record.EndpointChange{
		{Service: "ns/a", Addr: "10.0.0.1:80", Ready: true, Time: at(0), Initial: true},
		{Service: "ns/a", Addr: "10.0.0.2:80", Ready: true, Time: at(100)},
		{Service: "ns/a", Addr: "10.0.0.3:80", Ready: true, Time: at(200)},
		{Service: "ns/a", Addr: "10.0.0.2:80", Ready: false, Time: at(400)},
	}
	if !reflect.DeepEqual(r.EndpointChanges, wantChanges) {
		t.Errorf("changes:\n got %+v\nwant %+v", r.EndpointChanges, wantChanges)
	}
}

func TestReadyEndpoints(t *testing.T) {
	slice := func(ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{Ports: ports, Endpoints: eps}
	}
	ep := func(ip string, ready *bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
	}
	two := []discoveryv1.EndpointPort{{Name: ptr.To("admin"), Port: ptr.To[int32](9990)}, {Name: ptr.To("http"), Port: ptr.To[int32](8080)}}
	tests := []struct {
		name     string
		slices   []*discoveryv1.EndpointSlice
		portName string
		want     map[netip.AddrPort]struct{}
	}{
		{"ready true or unset counts, false does not", []*discoveryv1.EndpointSlice{slice(two, ep("10.0.0.1", ptr.To(true)), ep("10.0.0.2", nil), ep("10.0.0.3", ptr.To(false)))},
			"http", set("10.0.0.1:8080", "10.0.0.2:8080")},
		{"first port without a name", []*discoveryv1.EndpointSlice{slice(two, ep("10.0.0.1", nil))}, "", set("10.0.0.1:9990")},
		{"slices without the port are skipped", []*discoveryv1.EndpointSlice{slice(two[:1], ep("10.0.0.1", nil)), slice(two[1:], ep("10.0.0.2", nil))},
			"http", set("10.0.0.2:8080")},
		{"IPv6", []*discoveryv1.EndpointSlice{slice(two[1:], ep("fd00::1", nil))}, "http", set("[fd00::1]:8080")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReadyEndpoints(tt.slices, tt.portName); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
