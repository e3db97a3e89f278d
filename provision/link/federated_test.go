package link_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	pb "github.com/linkerd/linkerd2-proxy-api/go/destination"
	l5dnet "github.com/linkerd/linkerd2-proxy-api/go/net"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/fakenode"
)

// checkFederated puts members of one federated Service in both clusters
// and checks that a stream of the source's controller for its federated
// Service (made by Linkerd's service-mirror and local service-mirror)
// holds the union of both clusters' ready endpoints.
func checkFederated(t *testing.T, src, tgt *provision.Cluster) {
	ctx := context.Background()
	scs, tcs := sourceClient(t, src), sourceClient(t, tgt)
	const ns, svc = "fed", "web"
	// Members join one at a time. When both mirrors find no federated
	// Service they both create it, and the one that loses gets
	// AlreadyExists and returns without adding its own annotation
	// (Linkerd's handleCreateFederatedService); its membership then waits
	// for the member to change or for the 10-minute informer resync. A
	// user who labels two members at once can hit that; this test checks
	// the union, not that race, so the local member goes first.
	member(t, scs, ns, svc, 2)
	var fed *corev1.Service
	federated := func(wantRemote string) func() bool {
		return func() bool {
			s, err := scs.CoreV1().Services(ns).Get(ctx, svc+"-federated", metav1.GetOptions{})
			fed = s
			return err == nil && s.Annotations["multicluster.linkerd.io/remote-discovery"] == wantRemote &&
				s.Annotations["multicluster.linkerd.io/local-discovery"] == svc
		}
	}
	defer func() {
		if t.Failed() && fed != nil {
			t.Logf("federated Service %s annotations %v", fed.Name, fed.Annotations)
		}
	}()
	testutil.WaitFor(t, time.Minute, "the federated Service with its local member", federated(""))
	member(t, tcs, ns, svc, 3)
	testutil.WaitFor(t, time.Minute, "the federated Service with both members", federated(svc+"@"+tgt.Name))
	want := append(readyAddrs(t, scs, ns, svc), readyAddrs(t, tcs, ns, svc)...)
	slices.Sort(want)
	if len(want) != 5 {
		t.Fatalf("ready endpoints of both clusters %v, want 2 + 3", want)
	}

	cc, err := grpc.NewClient(src.DestinationAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	stream, err := pb.NewDestinationClient(cc).Get(sctx, &pb.GetDestination{Scheme: "k8s",
		Path: fmt.Sprintf("%s.%s.svc.cluster.local:80", fed.Name, ns), ContextToken: `{"ns":"fed","nodeName":"kwok-node-0"}`})
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{}
	for {
		u, err := stream.Recv()
		if err != nil {
			t.Fatalf("stream for %s ended (%v) holding %v, want %v", fed.Name, err, keys(held), want)
		}
		for _, a := range u.GetAdd().GetAddrs() {
			held[addr(a.GetAddr())] = true
		}
		for _, a := range u.GetRemove().GetAddrs() {
			delete(held, addr(a))
		}
		if slices.Equal(keys(held), want) {
			return
		}
	}
}

func addr(a *l5dnet.TcpAddress) string {
	ip := a.GetIp().GetIpv4()
	return net.JoinHostPort(net.IPv4(byte(ip>>24), byte(ip>>16), byte(ip>>8), byte(ip)).String(), strconv.Itoa(int(a.GetPort())))
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// member makes a Deployment of n fake pods and its Service, labelled as a
// federated member, in namespace ns.
func member(t *testing.T, cs kubernetes.Interface, ns, name string, n int32) {
	t.Helper()
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	sel := map[string]string{"app": name}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{NodeSelector: fakenode.Selector(), Tolerations: []corev1.Toleration{fakenode.Toleration()},
					Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"mirror.linkerd.io/federated": "member"}},
		Spec: corev1.ServiceSpec{Selector: sel,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// readyAddrs waits until the Service has as many ready endpoints as its
// Deployment wants, and returns them.
func readyAddrs(t *testing.T, cs kubernetes.Interface, ns, name string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	testutil.WaitFor(t, time.Minute, "ready endpoints of "+name, func() bool {
		dep, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		slices, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
		if err != nil {
			return false
		}
		out = out[:0]
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					out = append(out, net.JoinHostPort(e.Addresses[0], "8080"))
				}
			}
		}
		return len(out) == int(*dep.Spec.Replicas)
	})
	return out
}
