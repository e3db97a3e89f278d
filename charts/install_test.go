package charts

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/dstload/dstload/provision/local/localtest"
)

// TestInstallOnLocalCluster installs the embedded chart with the Helm SDK
// into a real local cluster (kube-apiserver, controller-manager, scheduler,
// kwok):
//   - every part on, monitors included: the API server accepts every
//     object (schemas, RBAC, the Prometheus Operator CRDs of the real
//     kube-prometheus-stack chart);
//   - static only, as the local provider installs it: the target pods run
//     on the fake nodes and their endpoints become ready in EndpointSlices;
//   - the real `dstload churn` and `dstload client`, with the chart's
//     container args and as the chart's ServiceAccounts, scale the targets,
//     observe them and stream them from a Destination server.
func TestInstallOnLocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local cluster")
	}
	// Built before the cluster starts, so its time is not charged to the
	// cluster steps' timeout.
	bin := buildDstload(t)
	start := time.Now()
	c := localtest.Start(t, localtest.Options{})
	t.Logf("local cluster up in %s", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	t.Run("all parts on", func(t *testing.T) {
		installMonitoringCRDs(t, ctx, c)
		for _, kind := range []string{"PodMonitor", "ServiceMonitor"} {
			ns := "dst-all-" + strings.ToLower(kind)
			createNamespace(t, ctx, c.Clientset, ns)
			rel := install(t, c, ns, "all", map[string]any{
				"targets":    map[string]any{"count": 2, "replicas": 1, "export": "remote-discovery"},
				"monitoring": map[string]any{"enabled": true, "kind": kind},
			})
			// Everything Helm rendered exists in the API server as sent.
			objs, err := decode(map[string]string{"manifest.yaml": rel})
			if err != nil {
				t.Fatal(err)
			}
			dyn, mapper := dynamicClient(t, c)
			kinds := map[string]int{}
			for _, o := range objs {
				gvk := o.GroupVersionKind()
				m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
				if err != nil {
					t.Fatalf("%s: %v", gvk, err)
				}
				got, err := dyn.Resource(m.Resource).Namespace(ns).Get(ctx, o.GetName(), metav1.GetOptions{})
				if err != nil {
					t.Errorf("%s %s not in the cluster: %v", gvk.Kind, o.GetName(), err)
					continue
				}
				if got.GetLabels()["app.kubernetes.io/instance"] != "all" {
					t.Errorf("%s %s labels %v", gvk.Kind, o.GetName(), got.GetLabels())
				}
				kinds[gvk.Kind]++
			}
			want := map[string]int{"ServiceAccount": 2, "Role": 2, "RoleBinding": 2, "Deployment": 4, kind: 2}
			want["Service"] = 3 // 2 targets + churn's
			if kind == "ServiceMonitor" {
				want["Service"] = 4 // + the clients' headless one
			}
			for k, n := range want {
				if kinds[k] != n {
					t.Errorf("%s: %d %s objects accepted, want %d (all: %v)", kind, kinds[k], k, n, kinds)
				}
			}
			// The churn ServiceAccount can do exactly its job in its
			// namespace (least privilege, checked by the real authorizer).
			checkAccess(t, ctx, c.Clientset, ns, "all-dst-load-test-churn", []access{
				{"apps", "deployments", "", "list", true, ""},
				{"apps", "deployments", "scale", "patch", true, ""},
				{"discovery.k8s.io", "endpointslices", "", "list", true, ""},
				{"discovery.k8s.io", "endpointslices", "", "watch", true, ""},
				{"apps", "deployments", "", "patch", false, ""},
				{"apps", "deployments", "", "delete", false, ""},
				{"", "pods", "", "list", false, ""},
				{"", "secrets", "", "get", false, ""},
			})
			checkAccess(t, ctx, c.Clientset, ns, "all-dst-load-test-churn", []access{
				{"apps", "deployments", "scale", "patch", false, "default"}, // other namespaces: nothing
				{"discovery.k8s.io", "endpointslices", "", "watch", false, "default"},
			})
			checkAccess(t, ctx, c.Clientset, ns, "all-dst-load-test-client", []access{
				{"", "services", "", "list", true, ""},
				{"", "services", "", "create", false, ""},
				{"apps", "deployments", "scale", "patch", false, ""},
				{"", "secrets", "", "get", false, ""},
			})
		}
	})

	t.Run("static only", func(t *testing.T) {
		const ns, targets, replicas = "dst-static", 3, 4
		createNamespace(t, ctx, c.Clientset, ns)
		vals := StaticOnly()
		vals["targets"] = map[string]any{"count": targets, "replicas": replicas}
		install(t, c, ns, "static", vals)

		deps, err := c.Clientset.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(deps.Items) != targets {
			t.Fatalf("%d Deployments, want only the %d targets", len(deps.Items), targets)
		}
		waitFor(t, ctx, "target pods Running on fake nodes with ready endpoints", func() (bool, string) {
			pods, err := c.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=target"})
			if err != nil {
				return false, err.Error()
			}
			running, ips := 0, map[string]bool{}
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning && strings.HasPrefix(p.Spec.NodeName, "kwok-node-") && p.Status.PodIP != "" {
					running++
					ips[p.Status.PodIP] = true
				}
			}
			if running != targets*replicas || len(ips) != running {
				return false, fmt.Sprintf("%d/%d pods running on fake nodes, %d unique IPs", running, targets*replicas, len(ips))
			}
			for i := 0; i < targets; i++ {
				svc := fmt.Sprintf("target-%03d", i)
				slices, err := c.Clientset.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
				if err != nil {
					return false, err.Error()
				}
				ready := 0
				for _, s := range slices.Items {
					for _, ep := range s.Endpoints {
						if ep.Conditions.Ready != nil && *ep.Conditions.Ready && ips[ep.Addresses[0]] {
							ready++
						}
					}
				}
				if ready != replicas {
					return false, fmt.Sprintf("%s: %d/%d ready endpoints", svc, ready, replicas)
				}
			}
			return true, ""
		})
	})
	t.Run("churn and client run under their ServiceAccounts", func(t *testing.T) {
		runWorkloadAsItsServiceAccounts(t, ctx, c, bin)
	})
	t.Logf("total %s", time.Since(start).Round(time.Millisecond))
}

type access struct {
	group, resource, subresource, verb string
	allowed                            bool
	namespace                          string // of the resource; "" = the ServiceAccount's
}

func checkAccess(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns, sa string, checks []access) {
	t.Helper()
	for _, a := range checks {
		// What the RBAC authorizer answers for the ServiceAccount.
		r, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, subjectAccessReview(ns, sa, a), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Allowed != a.allowed {
			t.Errorf("%s may %s %s/%s %s: %v, want %v", sa, a.verb, a.group, a.resource, a.subresource, r.Status.Allowed, a.allowed)
		}
	}
}

func createNamespace(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns string) {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// install is `helm install` of the embedded chart through the Helm SDK,
// without waiting (churn and client pods never run on the fake nodes).
// It returns the manifest Helm applied.
func install(t *testing.T, c *localtest.Cluster, ns, name string, values map[string]any) string {
	t.Helper()
	ch, err := DstLoadTest()
	if err != nil {
		t.Fatal(err)
	}
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig, flags.Context, flags.Namespace = &c.Kubeconfig, &c.Context, &ns
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, ns, "secret", func(format string, v ...any) { t.Logf("helm: "+format, v...) }); err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace, in.Timeout = name, ns, time.Minute
	start := time.Now()
	rel, err := in.Run(ch, values)
	if err != nil {
		t.Fatalf("helm install %s: %v", name, err)
	}
	t.Logf("helm install %s: %s", name, time.Since(start).Round(time.Millisecond))
	return rel.Manifest
}

// installMonitoringCRDs creates the PodMonitor and ServiceMonitor CRDs of
// the real kube-prometheus-stack chart from the chart mirror, as
// `dstload up --monitoring` would have.
func installMonitoringCRDs(t *testing.T, ctx context.Context, c *localtest.Cluster) {
	t.Helper()
	mirror := os.Getenv("DSTLOAD_CHART_MIRROR")
	if mirror == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("DSTLOAD_CHART_MIRROR is not set (the monitors need kube-prometheus-stack's CRDs)")
		}
		t.Skip("DSTLOAD_CHART_MIRROR not set: no kube-prometheus-stack chart for the monitor CRDs")
	}
	tgz, _ := filepath.Glob(filepath.Join(mirror, "kube-prometheus-stack-*.tgz"))
	if len(tgz) == 0 {
		t.Fatalf("no kube-prometheus-stack chart in %s", mirror)
	}
	kps, err := loader.Load(tgz[0])
	if err != nil {
		t.Fatal(err)
	}
	cs, err := apiextclient.NewForConfig(c.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range kps.CRDObjects() {
		if !strings.Contains(f.Name, "podmonitors") && !strings.Contains(f.Name, "servicemonitors") {
			continue
		}
		// The file may start with empty documents (a leading "---").
		var crd apiextv1.CustomResourceDefinition
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(f.File.Data), 4096)
		for crd.Name == "" {
			if err := dec.Decode(&crd); err != nil {
				t.Fatalf("%s: no CRD in the file: %v", f.Name, err)
			}
		}
		if _, err := cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create CRD %s: %v", crd.Name, err)
		}
		names = append(names, crd.Name)
	}
	if len(names) != 2 {
		t.Fatalf("found CRDs %v in %s, want podmonitors and servicemonitors", names, tgz[0])
	}
	waitFor(t, ctx, "monitor CRDs established", func() (bool, string) {
		for _, n := range names {
			crd, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			est := false
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextv1.Established && cond.Status == apiextv1.ConditionTrue {
					est = true
				}
			}
			if !est {
				return false, n + " not established"
			}
		}
		return true, ""
	})
}

func dynamicClient(t *testing.T, c *localtest.Cluster) (dynamic.Interface, *restmapper.DeferredDiscoveryRESTMapper) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(c.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig, flags.Context = &c.Kubeconfig, &c.Context
	disc, err := flags.ToDiscoveryClient()
	if err != nil {
		t.Fatal(err)
	}
	return dyn, restmapper.NewDeferredDiscoveryRESTMapper(disc)
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	start := time.Now()
	var detail string
	for {
		var ok bool
		if ok, detail = cond(); ok {
			t.Logf("%s after %s", what, time.Since(start).Round(time.Millisecond))
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not after %s: %s", what, time.Since(start).Round(time.Second), detail)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
