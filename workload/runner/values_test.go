package runner

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/dstload/dstload/charts"
	"github.com/dstload/dstload/workload/scenario"
)

// renderChart renders the real embedded chart as `helm install --dry-run`
// does (schema validation and post-renderer included) and returns the
// objects by kind/name.
func renderChart(t *testing.T, release, namespace string, vals map[string]any, pr postrender.PostRenderer) map[string]*unstructured.Unstructured {
	t.Helper()
	ch, err := charts.DstLoadTest()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace = release, namespace
	in.DryRun, in.ClientOnly = true, true
	in.PostRenderer = pr
	// The local clusters' version (the chart needs >= 1.31).
	kv, err := chartutil.ParseKubeVersion("v1.36.3")
	if err != nil {
		t.Fatal(err)
	}
	in.KubeVersion = kv
	rel, err := in.Run(ch, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	out := map[string]*unstructured.Unstructured{}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(rel.Manifest)), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if len(m) == 0 {
			continue
		}
		o := &unstructured.Unstructured{Object: m}
		out[o.GetKind()+"/"+o.GetName()] = o
	}
	return out
}

func containerOf(t *testing.T, d *unstructured.Unstructured) (args []string, image, pull string, replicas int64) {
	t.Helper()
	if d == nil {
		t.Fatal("Deployment missing from the manifest")
	}
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	c := cs[0].(map[string]any)
	for _, a := range c["args"].([]any) {
		args = append(args, a.(string))
	}
	pull, _ = c["imagePullPolicy"].(string)
	return args, c["image"].(string), pull, replicasOf(t, d)
}

func replicasOf(t *testing.T, d *unstructured.Unstructured) int64 {
	t.Helper()
	if d == nil {
		t.Fatal("Deployment missing from the manifest")
	}
	v, ok, _ := unstructured.NestedFieldNoCopy(d.Object, "spec", "replicas")
	if !ok {
		t.Fatalf("%s has no spec.replicas", d.GetName())
	}
	switch n := v.(type) {
	case int64:
		return n
	case float64: // JSON numbers
		return int64(n)
	}
	t.Fatalf("%s spec.replicas is %T", d.GetName(), v)
	return 0
}

// TestChartValues maps scenarios onto the real chart and checks what the
// churn and client containers are told, and the replica counts.
func TestChartValues(t *testing.T) {
	osc := &scenario.Scenario{Name: "osc",
		Services: scenario.Services{Count: 4, Endpoints: 10},
		Churn: scenario.Churn{Pattern: scenario.PatternOscillate, Min: 10, Max: 200, HoldMax: 2 * time.Minute, HoldMin: 90 * time.Second,
			Jitter: 5 * time.Second, Cycles: 3},
		Clients: scenario.Clients{Streams: 48, Processes: 3, Connections: 2, SampleStreams: 30}}
	stable := &scenario.Scenario{Name: "st",
		Services: scenario.Services{Count: 2, Endpoints: 7},
		Churn:    scenario.Churn{Pattern: scenario.PatternStable, Duration: time.Minute},
		Clients:  scenario.Clients{Streams: 4, Processes: 1, Connections: 1}}
	defaultAddr, err := ChartDestinationAddr()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		s           *scenario.Scenario
		img         Image
		dest        string
		churnArgs   []string
		clientArgs  []string
		clients     int64
		targets     int
		replicas    int64
		image, pull string
	}{
		{
			name: "oscillate, imported image", s: osc,
			img:       Image{Repository: "dstload.local/dstload", Tag: "v1-abc", PullPolicy: "IfNotPresent"},
			churnArgs: []string{"--pattern=oscillate", "--min=10", "--max=200", "--hold=2m0s,1m30s", "--jitter=5s", "--cycles=3"},
			// 48 streams / (4 services x 3 processes); sample 30 / 3 processes.
			clientArgs: []string{"--destination-addr=" + defaultAddr, "--streams-per-service=4", "--connections=2", "--sample-streams=10",
				"--events-url=http://run-dst-load-test-churn.ns.svc:9102", "--metrics-addr=:9102"},
			clients: 3, targets: 4, replicas: 10, image: "dstload.local/dstload:v1-abc", pull: "IfNotPresent",
		},
		{
			name: "stable, chart image, own destination", s: stable, dest: "dst.example:8086",
			churnArgs:  []string{"--pattern=stable", "--min=7", "--max=7", "--jitter=0s", "--cycles=0", "--metrics-addr=:9102"},
			clientArgs: []string{"--destination-addr=dst.example:8086", "--streams-per-service=2", "--connections=1", "--sample-streams=-1"},
			clients:    1, targets: 2, replicas: 7, image: "ghcr.io/dstload/dstload:", pull: "IfNotPresent",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := renderChart(t, "run", "ns", ChartValues(tt.s, tt.img, tt.dest), holdChurn{})
			args, image, pull, n := containerOf(t, objs["Deployment/run-dst-load-test-churn"])
			for _, a := range tt.churnArgs {
				if !slices.Contains(args, a) {
					t.Errorf("churn args %q lack %q", args, a)
				}
			}
			if n != 0 {
				t.Errorf("churn installed with %d replicas, want 0 (started by the run)", n)
			}
			if !strings.HasPrefix(image, tt.image) || pull != tt.pull {
				t.Errorf("churn image %s (%s), want %s* (%s)", image, pull, tt.image, tt.pull)
			}
			args, image, _, n = containerOf(t, objs["Deployment/run-dst-load-test-client"])
			for _, a := range tt.clientArgs {
				if !slices.Contains(args, a) {
					t.Errorf("client args %q lack %q", args, a)
				}
			}
			if n != tt.clients {
				t.Errorf("client replicas %d, want %d", n, tt.clients)
			}
			if !strings.HasPrefix(image, tt.image) {
				t.Errorf("client image %s, want %s*", image, tt.image)
			}
			for i := range tt.targets {
				name := "Deployment/" + (&Targets{Count: tt.targets}).Names()[i]
				if r := replicasOf(t, objs[name]); r != tt.replicas {
					t.Errorf("%s replicas %d, want %d", name, r, tt.replicas)
				}
			}
			if _, ok := objs["Deployment/"+(&Targets{Count: tt.targets + 1}).Names()[tt.targets]]; ok {
				t.Errorf("more than %d targets rendered", tt.targets)
			}
		})
	}
}

// TestHoldChurnNeedsTheChurnDeployment: the post-renderer refuses a
// manifest without churn rather than let churn start unheld.
func TestHoldChurnNeedsTheChurnDeployment(t *testing.T) {
	in := bytes.NewBufferString("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  labels:\n    app.kubernetes.io/component: churn\n")
	if _, err := (holdChurn{}).Run(in); err == nil || !strings.Contains(err.Error(), "found 0 churn Deployments") {
		t.Fatalf("err %v", err)
	}
}
