package charts

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/dstload/dstload/internal/dsttest"
	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/provision/local/localtest"
)

// buildDstload builds cmd/dstload for this host (same build settings as
// `go build ./...`, so Go's cache serves it).
func buildDstload(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dstload")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/dstload/dstload/cmd/dstload").CombinedOutput()
	if err != nil {
		t.Fatalf("go build dstload: %v\n%s", err, out)
	}
	t.Logf("go build dstload: %s", time.Since(start).Round(time.Millisecond))
	return bin
}

// runWorkloadAsItsServiceAccounts runs the real `dstload churn` and
// `dstload client` with exactly the arguments the chart gives their
// containers, against the local cluster, each impersonating its chart
// ServiceAccount: the flags must be ones the commands accept, and the
// Roles must be enough for the real code (churn: list Deployments, patch
// their scale, watch EndpointSlices; client: list Services). The client
// talks to the test Destination server serving the cluster's
// EndpointSlices, and follows churn's event feed.
func runWorkloadAsItsServiceAccounts(t *testing.T, ctx context.Context, c *localtest.Cluster, bin string) {
	const ns, release = "dst-run", "run"
	createNamespace(t, ctx, c.Clientset, ns)
	manifest := install(t, c, ns, release, map[string]any{
		"targets": map[string]any{"count": 2, "replicas": 1},
		"churn":   map[string]any{"pattern": "oscillate", "min": 1, "max": 3, "holdMax": "2s", "holdMin": "2s", "cycles": 1},
		"client":  map[string]any{"streamsPerService": 2, "sampleStreams": -1},
	})
	objs, err := decode(map[string]string{"manifest.yaml": manifest})
	if err != nil {
		t.Fatal(err)
	}
	container := func(name string) (args []string, sa string) {
		for _, o := range objs {
			if o.GetKind() != "Deployment" || o.GetName() != name {
				continue
			}
			sa, _, _ = unstructured.NestedString(o.Object, "spec", "template", "spec", "serviceAccountName")
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			for _, a := range cs[0].(map[string]any)["args"].([]any) {
				args = append(args, a.(string))
			}
		}
		if len(args) == 0 || sa == "" {
			t.Fatalf("no Deployment %s with args and a ServiceAccount in the manifest", name)
		}
		return args, sa
	}
	churnArgs, churnSA := container(release + "-dst-load-test-churn")
	clientArgs, clientSA := container(release + "-dst-load-test-client")

	// The test Destination server, standing in for Linkerd's controller.
	_, dstAddr := dsttest.Start(t, testutil.Discard(), c.Clientset, ns, dsttest.Options{})

	// The chart's args, then what differs outside a pod (later flags win).
	churnAdmin := freeAddr(t)
	churn := startAs(t, bin, c, ns, churnSA, "churn", append(churnArgs, "--metrics-addr="+churnAdmin))
	clientAdmin := freeAddr(t)
	client := startAs(t, bin, c, ns, clientSA, "client", append(clientArgs,
		"--destination-addr="+dstAddr, "--events-url=http://"+churnAdmin, "--metrics-addr="+clientAdmin))

	type records struct {
		ScaleEvents       []json.RawMessage `json:"scaleEvents"`
		ScaleFailures     []json.RawMessage `json:"scaleFailures"`
		KubeConvergence   []json.RawMessage `json:"kubeConvergence"`
		Streams           []json.RawMessage `json:"streams"`
		Receipts          []json.RawMessage `json:"receipts"`
		StreamConvergence []json.RawMessage `json:"streamConvergence"`
	}
	get := func(addr string) (records, error) {
		var r records
		resp, err := http.Get("http://" + addr + "/records")
		if err != nil {
			return r, err
		}
		defer resp.Body.Close()
		return r, json.NewDecoder(resp.Body).Decode(&r)
	}
	// 2 targets x (up to max, down to min) = 4 scale events, each reached
	// by the cluster; 2 targets x 2 streams per service = 4 streams.
	waitFor(t, ctx, "churn's cycle observed by the cluster and the client", func() (bool, string) {
		churn.checkRunning(t)
		client.checkRunning(t)
		cr, err := get(churnAdmin)
		if err != nil {
			return false, "churn: " + err.Error()
		}
		if len(cr.ScaleFailures) > 0 {
			t.Fatalf("scale writes failed under the chart's RBAC: %s\n%s", cr.ScaleFailures, churn.log())
		}
		lr, err := get(clientAdmin)
		if err != nil {
			return false, "client: " + err.Error()
		}
		// Every stream converged on both events of its service: the client
		// found the Services (its RBAC), streamed from the destination and
		// followed churn's feed (its args).
		if len(cr.ScaleEvents) < 4 || len(cr.KubeConvergence) < 4 || len(lr.Streams) != 4 || len(lr.StreamConvergence) < 4*2 {
			return false, fmt.Sprintf("%d scale events, %d converged in the cluster; client: %d streams, %d receipts, %d stream convergences",
				len(cr.ScaleEvents), len(cr.KubeConvergence), len(lr.Streams), len(lr.Receipts), len(lr.StreamConvergence))
		}
		return true, ""
	})
	deps, err := c.Clientset.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=target"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps.Items {
		if *d.Spec.Replicas != 1 {
			t.Errorf("%s has %d replicas after the cycle, want min 1", d.Name, *d.Spec.Replicas)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type proc struct {
	name    string
	logPath string
	exited  chan error
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *proc) checkRunning(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.exited:
		t.Fatalf("dstload %s exited (%v):\n%s", p.name, err, p.log())
	default:
	}
}

// startAs starts `bin argv...` with a kubeconfig that impersonates the
// ServiceAccount ns/sa, and the downward-API environment of a pod; the
// process is stopped by PID when the test ends.
func startAs(t *testing.T, bin string, c *localtest.Cluster, ns, sa, name string, argv []string) *proc {
	t.Helper()
	kc, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range kc.AuthInfos {
		ai.Impersonate = "system:serviceaccount:" + ns + ":" + sa
		ai.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, sa+".kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	argv = append(argv, "--kubeconfig="+kubeconfig, "--context="+c.Context)
	cmd := exec.Command(bin, argv...)
	cmd.Env = append(os.Environ(), "POD_NAME="+name+"-test", "POD_NAMESPACE="+ns, "NODE_NAME=kwok-node-0")
	p := &proc{name: name, logPath: filepath.Join(dir, name+".log"), exited: make(chan error, 1)}
	logf, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { err := cmd.Wait(); logf.Close(); done <- err; p.exited <- err }()
	t.Cleanup(func() {
		// Stop the process this test started, by its PID.
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-done
		}
	})
	return p
}
