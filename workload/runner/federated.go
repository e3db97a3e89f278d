package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/workload/scenario"
)

// Federated Services (Linkerd's pkg/k8s/labels.go): a member carries the
// label; the service-mirror (remote members) and the local service-mirror
// (the source's own) list the members on <svc>-federated in the source.
const (
	federatedLabel            = "mirror.linkerd.io/federated"
	federatedSuffix           = "-federated"
	remoteDiscoveryAnnotation = "multicluster.linkerd.io/remote-discovery"
	localDiscoveryAnnotation  = "multicluster.linkerd.io/local-discovery"
)

// federated reports a federated run: members in both clusters, churn on
// both, streams holding the union.
func (c *Config) federated() bool {
	return c.Multicluster != nil && c.Multicluster.Mode == scenario.Federated
}

// endpointClusters is how many clusters' endpoints each stream holds.
func (c *Config) endpointClusters() int {
	if c.federated() {
		return 2
	}
	return 1
}

// deployFederated makes tg's targets federated members in both clusters,
// one cluster at a time. When both mirrors find no federated Service they
// both create it; the one that loses gets AlreadyExists and returns
// without adding its member (Linkerd's handleCreateFederatedService),
// which then waits for the member to change or for the 10-minute resync.
// So the source's members join first, the target's once the source's are
// on <svc>-federated, and churn starts only when every federated Service
// lists both.
func (r *run) deployFederated(ctx context.Context, tg *Targets) (func(context.Context) error, error) {
	m := r.cfg.Multicluster
	scs, err := r.source()
	if err != nil {
		return nil, err
	}
	src := *tg
	src.Kubeconfig, src.Context, src.getter = m.SourceKubeconfig, m.SourceContext, nil
	r.progressf("members in %s first, then in %s", m.Source, m.Target)
	rmSrc, err := r.deployTargets(ctx, scs, &src, "source members")
	if rmSrc == nil {
		return nil, err
	}
	var rmTgt func(context.Context) error
	cleanup := func(ctx context.Context) error {
		var errs []error
		if rmTgt != nil {
			errs = append(errs, rmTgt(ctx))
		}
		return errors.Join(append(errs, rmSrc(ctx))...)
	}
	if err == nil {
		err = r.waitFederated(ctx, scs, tg, false)
	}
	if err == nil {
		rmTgt, err = r.deployTargets(ctx, r.cs, tg, "target members")
	}
	if err == nil {
		err = r.waitFederated(ctx, scs, tg, true)
	}
	return cleanup, err
}

// touchEvery is how long a federated Service may lack a member before the
// member's Service is touched: a change of it makes its mirror add it again.
const touchEvery = 30 * time.Second

// waitFederated waits until every target's <svc>-federated in the source
// lists the source's member and, when remote, the target's. A member still
// missing after touchEvery is touched (annotated), in case its mirror lost
// the creation race; after ReadyTimeout the run fails naming the Service.
func (r *run) waitFederated(ctx context.Context, scs kubernetes.Interface, tg *Targets, remote bool) error {
	m := r.cfg.Multicluster
	members := m.Source
	if remote {
		members += " and " + m.Target
	}
	r.progressf("waiting for the federated Services in %s to list the members of %s", m.Source, members)
	touched := map[string]time.Time{}
	svc, err := r.waitServices(ctx, tg.Names(), func(ctx context.Context, svc string) error {
		if touched[svc].IsZero() {
			touched[svc] = time.Now()
		}
		lacks, err := federatedLacks(ctx, scs, tg.Namespace, svc, m, remote)
		if err != nil && lacks != "" && time.Since(touched[svc]) > touchEvery {
			touched[svc] = time.Now()
			cs := r.cs
			if lacks == m.Source {
				cs = scs
			}
			r.progressf("%s%s lacks the member of %s; touching %s/%s there", svc, federatedSuffix, lacks, tg.Namespace, svc)
			if terr := touch(ctx, cs, tg.Namespace, svc); terr != nil {
				r.cfg.Log.Warn("touch federated member", "cluster", lacks, "service", svc, "err", terr)
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("federated Service %s/%s%s in %s: %v (Linkerd's service-mirror and local service-mirror add the members; are they running? 'dstload status')",
			tg.Namespace, svc, federatedSuffix, m.Source, err)
	}
	return nil
}

// federatedLacks checks svc's federated Service: nil when it lists the
// source's member (local discovery) and, if remote, the target's (remote
// discovery, <svc>@<target>); else the error and the cluster whose member
// it lacks ("" when the Service is not there yet).
func federatedLacks(ctx context.Context, cs kubernetes.Interface, ns, svc string, m *Multicluster, remote bool) (string, error) {
	f, err := cs.CoreV1().Services(ns).Get(ctx, svc+federatedSuffix, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "", fmt.Errorf("no Service %s%s yet", svc, federatedSuffix)
	case err != nil:
		return "", err
	case !listed(f.Annotations[localDiscoveryAnnotation], svc):
		return m.Source, fmt.Errorf("annotation %s is %q, want %s", localDiscoveryAnnotation, f.Annotations[localDiscoveryAnnotation], svc)
	case remote && !listed(f.Annotations[remoteDiscoveryAnnotation], svc+"@"+m.Target):
		return m.Target, fmt.Errorf("annotation %s is %q, want %s@%s", remoteDiscoveryAnnotation, f.Annotations[remoteDiscoveryAnnotation], svc, m.Target)
	}
	return "", nil
}

// listed reports whether a comma-separated annotation value holds want.
func listed(v, want string) bool { return slices.Contains(strings.Split(v, ","), want) }

// touch changes a member Service's annotation, which its mirror sees as an
// update of the member.
func touch(ctx context.Context, cs kubernetes.Interface, ns, name string) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"dstload.io/touched":%q}}}`, time.Now().UTC().Format(time.RFC3339Nano))
	_, err := cs.CoreV1().Services(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}
