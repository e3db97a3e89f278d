package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/dstload/dstload/charts"
	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/stack"
)

// noInjectionLabel is Linkerd's namespace label that its proxy
// injector's webhook skips.
const noInjectionLabel = "config.linkerd.io/admission-webhooks"

// runLabel marks the namespace a run created, so cleanup deletes only
// namespaces the run itself made.
const runLabel = "dstload.io/run"

// Targets is the static part of the dst-load-test chart: the Services and
// Deployments a scenario churns and subscribes to.
type Targets struct {
	Kubeconfig, Context string
	Namespace           string
	Release             string
	Count, Replicas     int
	Log                 *slog.Logger
	// Values, when set, are the chart values to install instead of the
	// static part only (the in-cluster path: ChartValues). PostRenderer
	// edits the rendered manifests before Helm applies them.
	Values       map[string]any
	PostRenderer postrender.PostRenderer
	// NoInjection exempts the namespace from Linkerd's proxy injector
	// (Linkerd's own namespace label). Where no pod runs (local provider)
	// no injector answers, and the API server would call the webhook for
	// every target pod it creates: each call waits on a connection that
	// cannot succeed, and at full size those calls starve the API server.
	NoInjection bool

	getter *stack.RESTGetter
}

// Selector picks the target Services and Deployments (the chart's
// dst-load-test.targetSelector).
func (t *Targets) Selector() string {
	return "app.kubernetes.io/instance=" + t.Release + ",app.kubernetes.io/component=target"
}

// Names are the target names in chart order (<prefix>-000, ...).
func (t *Targets) Names() []string {
	out := make([]string, t.Count)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", namePrefix, i)
	}
	return out
}

const namePrefix = "target"

func (t *Targets) helm() (*action.Configuration, error) {
	if t.getter == nil {
		t.getter = stack.NewRESTGetter(t.Kubeconfig, t.Context, t.Namespace, t.Log)
	}
	cfg := new(action.Configuration)
	logf := func(format string, v ...any) { t.Log.Debug(fmt.Sprintf(format, v...), "component", "helm") }
	if err := cfg.Init(t.getter, t.Namespace, "secret", logf); err != nil {
		return nil, fmt.Errorf("helm init: %w", err)
	}
	return cfg, nil
}

// Install creates the namespace (labelled as the run's) when missing and
// installs the chart with only its targets. It refuses to reuse a release
// of that name: a leftover from a --keep run must be removed first, or the
// scenario would measure someone else's Deployments.
func (t *Targets) Install(ctx context.Context, cs kubernetes.Interface) error {
	// A namespace still terminating from an earlier run's cleanup refuses
	// new objects; wait for it to go.
	for {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, t.Namespace, metav1.GetOptions{})
		if err != nil || ns.DeletionTimestamp == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s is still being deleted: %w", t.Namespace, context.Cause(ctx))
		case <-time.After(500 * time.Millisecond):
		}
	}
	labels := map[string]string{runLabel: t.Release}
	if t.NoInjection {
		labels[noInjectionLabel] = "disabled"
	}
	if cur, err := cs.CoreV1().Namespaces().Get(ctx, t.Namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: t.Namespace, Labels: labels}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", t.Namespace, err)
		}
	} else if err != nil {
		return fmt.Errorf("get namespace %s: %w", t.Namespace, err)
	} else if t.NoInjection && cur.Labels[noInjectionLabel] != "disabled" {
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:"disabled"}}}`, noInjectionLabel)
		if _, err := cs.CoreV1().Namespaces().Patch(ctx, t.Namespace, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("exempt namespace %s from Linkerd's proxy injector: %w", t.Namespace, err)
		}
	}
	cfg, err := t.helm()
	if err != nil {
		return err
	}
	if _, err := action.NewGet(cfg).Run(t.Release); err == nil {
		return fmt.Errorf("release %s already exists in namespace %s (left by 'dstload run --keep'?); remove it with 'dstload run --cleanup --namespace %s' or pick another --namespace", t.Release, t.Namespace, t.Namespace)
	} else if !errors.Is(err, driver.ErrReleaseNotFound) {
		return fmt.Errorf("look up release %s: %w", t.Release, err)
	}
	chrt, err := charts.DstLoadTest()
	if err != nil {
		return err
	}
	vals := t.Values
	if vals == nil {
		vals = charts.StaticOnly()
		vals["targets"] = map[string]any{"count": t.Count, "replicas": t.Replicas, "namePrefix": namePrefix}
	}
	in := action.NewInstall(cfg)
	in.PostRenderer = t.PostRenderer
	in.ReleaseName = t.Release
	in.Namespace = t.Namespace
	// Fake pods become ready through KWOK; readiness is checked by the run
	// itself (Ready), which can report progress while it waits.
	in.Wait = false
	in.Timeout = 2 * time.Minute
	if _, err := in.RunWithContext(ctx, chrt, vals); err != nil {
		return fmt.Errorf("install %s chart as %s: %w", charts.DstLoadTestName, t.Release, err)
	}
	return nil
}

// Ready waits until the targets' Deployments have every replica ready and
// their EndpointSlices list each one's address ready: the controller
// serves the slices, so a run whose slices lack an endpoint would wait for
// streams that cannot hold it and blame the controller. tick reports
// progress (ready of desired).
func (t *Targets) Ready(ctx context.Context, cs kubernetes.Interface, tick func(ready, desired int)) error {
	want := t.Count * t.Replicas
	for {
		list, err := cs.AppsV1().Deployments(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: t.Selector()})
		if err != nil {
			return fmt.Errorf("list target deployments: %w", err)
		}
		ready := readyReplicas(list.Items)
		if tick != nil {
			tick(ready, want)
		}
		var sc sliceCount
		if len(list.Items) == t.Count && ready == want {
			if sc, err = t.countSlices(ctx, cs); err != nil {
				return err
			}
			if sc.ready == want {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if ready == want {
				return fmt.Errorf("targets ready: the Deployments have all %d pods ready but %s: %w", want, sc.String(want), context.Cause(ctx))
			}
			return fmt.Errorf("targets ready: %d of %d endpoints: %w", ready, want, context.Cause(ctx))
		case <-time.After(time.Second):
		}
	}
}

func readyReplicas(ds []appsv1.Deployment) int {
	n := 0
	for _, d := range ds {
		n += int(min(d.Status.ReadyReplicas, *d.Spec.Replicas))
	}
	return n
}

// Uninstall removes the release and the namespace if the run created it.
// It runs on a fresh context: cleanup must happen after Ctrl-C too.
func (t *Targets) Uninstall(ctx context.Context, cs kubernetes.Interface) error {
	var errs []error
	cfg, err := t.helm()
	if err != nil {
		return err
	}
	un := action.NewUninstall(cfg)
	un.Wait = false
	un.Timeout = time.Minute
	if _, err := un.Run(t.Release); err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		errs = append(errs, fmt.Errorf("uninstall %s: %w", t.Release, err))
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, t.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		errs = append(errs, fmt.Errorf("get namespace %s: %w", t.Namespace, err))
	case ns.Labels[runLabel] == t.Release:
		if err := cs.CoreV1().Namespaces().Delete(ctx, t.Namespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", t.Namespace, err))
			break
		}
		// Wait until it is gone, so the next run can create it again.
		for {
			_, err := cs.CoreV1().Namespaces().Get(ctx, t.Namespace, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if ctx.Err() != nil {
				errs = append(errs, fmt.Errorf("namespace %s still terminating: %w", t.Namespace, context.Cause(ctx)))
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

// restConfig loads a client-go config for the run's own clients.
func restConfig(kubeconfig, context string) (*rest.Config, error) {
	cfg, err := provision.RESTConfig(kubeconfig, context)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 200, 400
	return cfg, nil
}
