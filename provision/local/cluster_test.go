package local_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/fakenode"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/provision/local/localtest"
)

// TestFakeNodesAndPods checks what every other package relies on: Ready
// fake nodes shaped like Linkerd's, and a 300-replica Deployment on them
// that ends as 300 Running pods with unique IPs and 300 ready endpoints.
func TestFakeNodesAndPods(t *testing.T) {
	c := localtest.Start(t, localtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Ready when Start returns; the node-lifecycle controller may still be
	// lifting the not-ready taint it put on the new nodes, shortly after.
	var nodes *corev1.NodeList
	testutil.WaitFor(t, 10*time.Second, "the not-ready taints to leave the nodes", func() bool {
		var err error
		if nodes, err = c.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes.Items {
			if len(n.Spec.Taints) != 1 {
				return false
			}
		}
		return true
	})
	if len(nodes.Items) != local.DefaultNodes {
		t.Fatalf("got %d nodes, want %d", len(nodes.Items), local.DefaultNodes)
	}
	var prefixes []netip.Prefix
	for _, n := range nodes.Items {
		if n.Labels["type"] != "kwok" || n.Annotations["kwok.x-k8s.io/node"] != "fake" {
			t.Errorf("node %s: labels %v annotations %v", n.Name, n.Labels, n.Annotations)
		}
		if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != "kwok.x-k8s.io/node" || n.Spec.Taints[0].Value != "fake" || n.Spec.Taints[0].Effect != corev1.TaintEffectNoSchedule {
			t.Errorf("node %s: taints %v, want only kwok.x-k8s.io/node=fake:NoSchedule", n.Name, n.Spec.Taints)
		}
		ready := false
		for _, cond := range n.Status.Conditions {
			ready = ready || (cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue)
		}
		if !ready {
			t.Errorf("node %s is not Ready", n.Name)
		}
		p, err := netip.ParsePrefix(n.Spec.PodCIDR)
		if err != nil {
			t.Fatalf("node %s podCIDR %q: %v", n.Name, n.Spec.PodCIDR, err)
		}
		if size := 1 << (32 - p.Bits()); size < 10000 {
			t.Errorf("node %s podCIDR %s holds %d addresses, want >= 10,000", n.Name, p, size)
		}
		for _, q := range prefixes {
			if q.Overlaps(p) {
				t.Errorf("pod CIDRs %s and %s overlap", q, p)
			}
		}
		prefixes = append(prefixes, p)
	}

	const replicas = 300
	labels := map[string]string{"app": "many"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "many", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: fakenode.Selector(),
					Tolerations:  []corev1.Toleration{fakenode.Toleration()},
					Containers: []corev1.Container{{
						Name: "app", Image: "fake",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
					}},
				},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "many", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	start := time.Now()
	if _, err := c.Clientset.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Clientset.AppsV1().Deployments("default").Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var (
		running, readyEndpoints int
		err                     error
	)
	for {
		running, readyEndpoints, err = countPods(ctx, c.Clientset, t, prefixes)
		if err != nil {
			t.Fatal(err)
		}
		if running == replicas && readyEndpoints == replicas {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("after %s: %d Running pods, %d ready endpoints; want %d of each", time.Since(start), running, readyEndpoints, replicas)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d pods Running with unique IPs and %d ready endpoints after %s", running, readyEndpoints, time.Since(start).Round(time.Millisecond))
}

// countPods counts Running pods with a unique IP inside a node's pod CIDR,
// and ready endpoints in the Service's EndpointSlices; a duplicate or stray
// IP fails the test.
func countPods(ctx context.Context, cs kubernetes.Interface, t *testing.T, prefixes []netip.Prefix) (running, ready int, err error) {
	pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=many"})
	if err != nil {
		return 0, 0, err
	}
	seen := map[string]string{}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			continue
		}
		if other, dup := seen[p.Status.PodIP]; dup {
			t.Fatalf("pods %s and %s share IP %s", other, p.Name, p.Status.PodIP)
		}
		seen[p.Status.PodIP] = p.Name
		ip := netip.MustParseAddr(p.Status.PodIP)
		inside := false
		for _, pr := range prefixes {
			inside = inside || pr.Contains(ip)
		}
		if !inside {
			t.Fatalf("pod %s IP %s is in no node's pod CIDR", p.Name, ip)
		}
		running++
	}
	slices, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=many"})
	if err != nil {
		return 0, 0, err
	}
	eps := map[string]bool{}
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
				for _, a := range ep.Addresses {
					eps[a] = true
				}
			}
		}
	}
	return running, len(eps), nil
}

// TestLifecycle: a second up changes nothing; kill -9 of the apiserver shows
// in status; a further up resumes it; down leaves no process and no port.
func TestLifecycle(t *testing.T) {
	c := localtest.Start(t, localtest.Options{Nodes: 1})
	ctx := context.Background()
	before, err := os.ReadFile(filepath.Join(c.Dir, provision.StateFileName))
	if err != nil {
		t.Fatal(err)
	}

	res, err := c.Lifecycle.Up(ctx, local.ProviderName, provision.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.AlreadyUp {
		t.Fatal("second up did not report already up")
	}
	after, err := os.ReadFile(filepath.Join(c.Dir, provision.StateFileName))
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Fatal("second up changed the state file")
	}

	report, err := c.Lifecycle.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !report.Healthy {
		t.Fatalf("fresh environment not healthy: %+v", report.Components)
	}
	api := c.State.Process("", local.APIServer)
	if err := syscall.Kill(api.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the apiserver to exit", func() bool { return !local.Alive(*api) })
	report, err = c.Lifecycle.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if report.Healthy {
		t.Fatal("status says healthy after kill -9 of the apiserver")
	}
	if got := component(report, local.APIServer); got.Health != provision.Gone || got.PID != api.PID {
		t.Fatalf("apiserver status %+v, want gone with pid %d", got, api.PID)
	}
	if got := component(report, local.Etcd); got.Health != provision.Healthy {
		t.Fatalf("etcd status %+v, want healthy", got)
	}

	// up resumes: only the apiserver is restarted, on its recorded port.
	res, err = c.Lifecycle.Up(ctx, local.ProviderName, provision.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if res.AlreadyUp || !res.Resumed {
		t.Fatalf("up after kill: %+v, want a resume", res)
	}
	newAPI := res.State.Process("", local.APIServer)
	if newAPI.PID == api.PID || newAPI.Addr != api.Addr {
		t.Fatalf("apiserver after resume: pid %d addr %s (was %d %s)", newAPI.PID, newAPI.Addr, api.PID, api.Addr)
	}
	if got := res.State.Process("", local.Etcd).PID; got != c.State.Process("", local.Etcd).PID {
		t.Fatal("resume restarted etcd, which was healthy")
	}

	st, err := provision.LoadState(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lifecycle.Down(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Processes {
		// Alive checks PID, start time and command line, and counts a
		// zombie (exited, not yet reaped by this test process) as gone.
		if local.Alive(p) {
			t.Errorf("%s (pid %d) survived down", p.Name, p.PID)
		}
		for name, port := range p.Ports {
			conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				conn.Close()
				t.Errorf("%s port %s (%d) still open after down", p.Name, name, port)
			}
		}
	}
	if _, err := provision.LoadState(c.Dir); !errors.Is(err, provision.ErrNoState) {
		t.Errorf("state after down: %v, want none", err)
	}
	if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("environment dir still exists after down: %v", err)
	}
	res2, err := c.Lifecycle.Down(ctx)
	if err != nil || !res2.NothingToRemove {
		t.Fatalf("second down: %+v %v, want nothing to remove", res2, err)
	}
}

// TestDestinationSupervision runs a stand-in for Linkerd's controller the way
// the real one is run and checks readiness, gRPC, status and teardown.
func TestDestinationSupervision(t *testing.T) {
	bin := buildStandin(t)
	c := localtest.Start(t, localtest.Options{Nodes: 1, DestinationBin: bin})
	if c.DestinationAddr == "" || c.DestinationAdminAddr == "" {
		t.Fatalf("destination addresses not recorded: %+v", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(c.DestinationAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health of the destination stand-in: %v %v", resp, err)
	}
	proc := c.State.Process("", local.Destination)
	if proc == nil {
		t.Fatal("destination process not in state")
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", proc.PID))
	if err != nil {
		t.Fatal(err)
	}
	if !containsEnv(environ, "HOSTNAME=dstload-destination-"+c.Name) {
		t.Error("destination process has no HOSTNAME")
	}
	if _, err := os.Stat(proc.Log); err != nil {
		t.Fatalf("destination log: %v", err)
	}

	report, err := c.Lifecycle.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := component(report, local.Destination); got.Health != provision.Healthy || got.Address != c.DestinationAddr {
		t.Fatalf("destination status %+v", got)
	}
	if err := syscall.Kill(proc.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the process to exit", func() bool { return !local.Alive(*proc) })
	report, err = c.Lifecycle.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := component(report, local.Destination); got.Health != provision.Gone {
		t.Fatalf("destination status after kill %+v, want gone", got)
	}
}

func containsEnv(environ []byte, kv string) bool {
	for _, e := range splitNUL(environ) {
		if e == kv {
			return true
		}
	}
	return false
}

func splitNUL(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			out = append(out, string(b[start:i]))
			start = i + 1
		}
	}
	return out
}

// buildStandin compiles internal/standin into a temporary directory.
func buildStandin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "controller")
	cmd := exec.Command("go", "build", "-o", bin, "./internal/standin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build stand-in: %v\n%s", err, out)
	}
	return bin
}

func component(r *provision.StatusReport, name string) provision.ComponentStatus {
	for _, c := range r.Components {
		if c.Name == name {
			return c
		}
	}
	return provision.ComponentStatus{}
}

// cancelOn cancels a context when a progress line containing substr is
// written: a Ctrl-C at a precise step of up.
type cancelOn struct {
	substr string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.substr) {
		c.cancel()
	}
	return len(p), nil
}

// TestInterruptedUp: Ctrl-C in the middle of up leaves a state that down
// cleans up completely, or that a second up resumes (keeping what runs).
func TestInterruptedUp(t *testing.T) {
	localtest.RequireBinaries(t)
	newEnv := func(progress io.Writer) *provision.Lifecycle {
		reg := provision.NewRegistry()
		reg.Register(local.ProviderName, func(provision.Config) (provision.Provider, error) {
			return local.New(local.Options{Nodes: 1, BinDir: os.Getenv(local.BinDirEnv), NoDestination: true}), nil
		})
		return &provision.Lifecycle{
			Env:       provision.Env{Name: "int", Dir: filepath.Join(t.TempDir(), "int"), Log: testutil.Discard(), Progress: progress},
			Providers: reg,
		}
	}
	interrupt := func(t *testing.T) (*provision.Lifecycle, *provision.State) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		e := newEnv(&cancelOn{substr: "starting " + local.ControllerManager, cancel: cancel})
		t.Cleanup(func() { localtest.Stop(t, e) })
		_, err := e.Up(ctx, local.ProviderName, provision.Config{})
		if !errors.Is(err, provision.ErrInterrupted) {
			t.Fatalf("interrupted up: %v, want ErrInterrupted", err)
		}
		st, err := provision.LoadState(e.Env.Dir)
		if err != nil {
			t.Fatal(err)
		}
		if st.Phase != provision.PhaseCreating {
			t.Fatalf("phase %s after interrupt", st.Phase)
		}
		// etcd and the apiserver were started before the interrupt,
		// the controller manager while it arrived; nothing after.
		var names []string
		for _, p := range st.Processes {
			names = append(names, p.Name)
			if !local.Alive(p) {
				t.Fatalf("%s recorded but not running", p.Name)
			}
		}
		if got := strings.Join(names, ","); got != "etcd,kube-apiserver,kube-controller-manager" {
			t.Fatalf("recorded processes %s", got)
		}
		return e, st
	}

	t.Run("down", func(t *testing.T) {
		e, st := interrupt(t)
		if _, err := e.Down(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, p := range st.Processes {
			if local.Alive(p) {
				t.Errorf("%s survived down", p.Name)
			}
		}
		if _, err := os.Stat(e.Env.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("environment dir after down: %v", err)
		}
	})
	t.Run("resume", func(t *testing.T) {
		e, st := interrupt(t)
		res, err := e.Up(context.Background(), local.ProviderName, provision.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Resumed {
			t.Fatal("second up did not resume")
		}
		for _, p := range st.Processes {
			if got := res.State.Process("", p.Name); got == nil || got.PID != p.PID {
				t.Errorf("%s was restarted by the resume although it ran", p.Name)
			}
		}
		rep, err := e.Status(context.Background())
		if err != nil || !rep.Healthy || len(res.State.Processes) != 5 {
			t.Fatalf("after resume: %v %+v", err, rep)
		}
	})
}
