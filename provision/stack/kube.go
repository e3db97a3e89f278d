package stack

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// RESTGetter is the RESTClientGetter Helm needs, built from a kubeconfig
// path and context. Discovery is cached in memory only: a disk cache (what
// kubectl's ConfigFlags uses) would write under ~/.kube and could hide CRDs
// that a previous release just installed.
type RESTGetter struct {
	kubeconfig, context, namespace string
	log                            *slog.Logger
	// requestTimeout bounds each API request; 0 = none (Helm's own waits
	// use long requests).
	requestTimeout time.Duration

	once      sync.Once
	cfg       *rest.Config
	err       error
	discovery discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper
}

// NewRESTGetter returns a getter for the kubeconfig path and context, with
// namespace as the default namespace; log (may be nil) gets API warnings.
func NewRESTGetter(kubeconfig, kubeContext, namespace string, log *slog.Logger) *RESTGetter {
	return &RESTGetter{kubeconfig: kubeconfig, context: kubeContext, namespace: namespace, log: log}
}

func (g *RESTGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: g.kubeconfig}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: g.context}
	overrides.Context.Namespace = g.namespace
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
}

func (g *RESTGetter) init() {
	g.once.Do(func() {
		cfg, err := g.ToRawKubeConfigLoader().ClientConfig()
		if err != nil {
			g.err = fmt.Errorf("kubeconfig %s: %w", g.kubeconfig, err)
			return
		}
		// Helm creates dozens of objects per release; client-go's default
		// 5 QPS would make that the slowest part of `up`.
		cfg.QPS, cfg.Burst = 100, 200
		cfg.Timeout = g.requestTimeout
		// API deprecation warnings are for chart authors; keep them out of
		// the user's terminal at info level.
		cfg.WarningHandler = slogWarnings{g.log}
		dc, err := discovery.NewDiscoveryClientForConfig(cfg)
		if err != nil {
			g.err = err
			return
		}
		g.cfg = cfg
		g.discovery = memory.NewMemCacheClient(dc)
		g.mapper = restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(g.discovery), g.discovery, nil)
	})
}

func (g *RESTGetter) ToRESTConfig() (*rest.Config, error) {
	g.init()
	if g.err != nil {
		return nil, g.err
	}
	return rest.CopyConfig(g.cfg), nil
}

func (g *RESTGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	g.init()
	return g.discovery, g.err
}

func (g *RESTGetter) ToRESTMapper() (meta.RESTMapper, error) {
	g.init()
	return g.mapper, g.err
}

type slogWarnings struct{ log *slog.Logger }

func (w slogWarnings) HandleWarningHeader(code int, agent, text string) {
	if w.log != nil && code == 299 && text != "" {
		w.log.Debug("kubernetes API warning", "warning", text)
	}
}

// namespaceMeta is the metadata the linkerd CLI puts on a release's
// namespace. The charts render their Namespace only for the CLI
// (.Release.Service == "CLI"), so Helm SDK users create it themselves.
func namespaceMeta(release, ns string) (labels, annotations map[string]string) {
	switch release {
	case "linkerd-crds", "linkerd-control-plane":
		// charts/linkerd-control-plane/templates/namespace.yaml
		return map[string]string{
				"linkerd.io/is-control-plane":          "true",
				"config.linkerd.io/admission-webhooks": "disabled",
				"linkerd.io/control-plane-ns":          ns,
				// proxy-init needs NET_ADMIN; "restricted" only with the CNI.
				"pod-security.kubernetes.io/enforce": "privileged",
			}, map[string]string{
				"linkerd.io/inject": "disabled",
			}
	case "linkerd-multicluster":
		// linkerd-multicluster/templates/namespace.yaml
		return map[string]string{
			"linkerd.io/extension":               "multicluster",
			"pod-security.kubernetes.io/enforce": "privileged",
		}, nil
	}
	return nil, nil
}

// OwnerLabel marks what a dstload environment created (namespaces, Helm
// releases); its value is the environment name. Down removes only what
// carries it.
const OwnerLabel = "dstload.io/environment"

// ensureNamespace creates ns with the given metadata, or adds the metadata to
// an existing one. Only a namespace dstload creates carries OwnerLabel, so
// Down never deletes one that was there before.
func ensureNamespace(ctx context.Context, cs kubernetes.Interface, ns, env string, labels, annotations map[string]string) error {
	got, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l := map[string]string{OwnerLabel: env}
		for k, v := range labels {
			l[k] = v
		}
		_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: l, Annotations: annotations},
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return ensureNamespace(ctx, cs, ns, env, labels, annotations)
		}
		if err != nil {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", ns, err)
	}
	if got.DeletionTimestamp != nil {
		return fmt.Errorf("namespace %s is being deleted; wait for it to go and run up again", ns)
	}
	changed := false
	if got.Labels == nil {
		got.Labels = map[string]string{}
	}
	if got.Annotations == nil {
		got.Annotations = map[string]string{}
	}
	for k, v := range labels {
		if got.Labels[k] != v {
			got.Labels[k], changed = v, true
		}
	}
	for k, v := range annotations {
		if got.Annotations[k] != v {
			got.Annotations[k], changed = v, true
		}
	}
	if !changed {
		return nil
	}
	if _, err := cs.CoreV1().Namespaces().Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("label namespace %s: %w", ns, err)
	}
	return nil
}

// waitCRDsEstablished waits until every named CRD exists and is Established.
func waitCRDsEstablished(ctx context.Context, cs apiextclient.Interface, names []string, timeout time.Duration) error {
	for _, name := range names {
		var last string
		err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
			crd, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				last = "not found"
				return false, nil
			}
			if err != nil {
				last = err.Error()
				return false, nil
			}
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextv1.Established && c.Status == apiextv1.ConditionTrue {
					return true, nil
				}
			}
			last = "not Established"
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s: %s after %s", name, last, timeout)
		}
	}
	return nil
}

// gatewayRouteFlags returns the linkerd-crds values that keep the chart away
// from Gateway API CRDs another owner already installed (installing them
// would fail with "exists and cannot be imported into the current release").
func gatewayRouteFlags(ctx context.Context, cs apiextclient.Interface, release, namespace string) (map[string]any, error) {
	groups := []struct {
		value string
		crds  []string
	}{
		{"enableHttpRoutes", []string{"httproutes.gateway.networking.k8s.io", "grpcroutes.gateway.networking.k8s.io"}},
		{"enableTlsRoutes", []string{"tlsroutes.gateway.networking.k8s.io"}},
		{"enableTcpRoutes", []string{"tcproutes.gateway.networking.k8s.io"}},
	}
	out := map[string]any{}
	for _, g := range groups {
		for _, name := range g.crds {
			crd, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("look up CRD %s: %w", name, err)
			}
			if crd.Annotations["meta.helm.sh/release-name"] != release || crd.Annotations["meta.helm.sh/release-namespace"] != namespace {
				out[g.value] = false
			}
		}
	}
	return out, nil
}

// deleteOwnedNamespaces deletes those of names that carry OwnerLabel=env.
func deleteOwnedNamespaces(ctx context.Context, cs kubernetes.Interface, names []string, env string) error {
	for _, ns := range names {
		got, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("get namespace %s: %w", ns, err)
		}
		if got.Labels[OwnerLabel] != env {
			continue
		}
		err = cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete namespace %s: %w", ns, err)
		}
	}
	return nil
}
