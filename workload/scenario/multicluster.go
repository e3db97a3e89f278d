package scenario

import "fmt"

// Multicluster modes (Scenario.Multicluster).
const (
	// RemoteDiscovery: the targets and their churn are in the target
	// cluster, exported with mirror.linkerd.io/exported=remote-discovery;
	// the clients ask the source's destination controller for the mirror
	// Services Linkerd's service-mirror makes there (<svc>-<target>), which
	// it resolves through its link to the target's API server.
	RemoteDiscovery = "remote-discovery"
	// Federated: the targets are members of one federated Service in
	// both clusters (labelled mirror.linkerd.io/federated=member) and
	// churn in both; the clients ask the source's controller for
	// <svc>-federated, which Linkerd's service-mirror and local
	// service-mirror make in the source, and hold the union of both
	// clusters' members.
	Federated = "federated"
)

// MulticlusterError is a multicluster scenario asked of an environment
// without a linked pair: bad input, the user picks another environment.
type MulticlusterError struct{ Scenario, Mode, Env string }

func (e *MulticlusterError) Usage() {}
func (e *MulticlusterError) Error() string {
	return fmt.Sprintf("scenario %s is multicluster (%s) but environment %q has one cluster: make one with 'dstload up --provider local --clusters 2' (another --name), or pick a one-cluster scenario",
		e.Scenario, e.Mode, e.Env)
}

func (s *Scenario) validateMulticluster() error {
	switch s.Multicluster {
	case "":
		return nil
	case RemoteDiscovery, Federated:
	default:
		return bad("multicluster", "%q is not a mode: use %s or %s, or leave it out for one cluster", s.Multicluster, RemoteDiscovery, Federated)
	}
	if s.Sweep != nil {
		return bad("multicluster", "a sweep measures one controller's memory per subscriber; drop sweep or multicluster")
	}
	return nil
}
