// Package kubeconfig is the provider for an existing cluster: it uses a
// context the user names and never creates or deletes a cluster. Only what
// dstload installs (the stack hook) is removed by down.
package kubeconfig

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/dstload/dstload/provision"
)

// ProviderName is the registry name of this provider.
const ProviderName = "kubeconfig"

// Provider uses an existing kubeconfig context.
type Provider struct {
	kubeconfig, context string
	destinationAddr     string
}

// Factory builds the provider from --kubeconfig, --context and
// --destination-addr. It accepts a zero Config (down and status).
func Factory(cfg provision.Config) (provision.Provider, error) {
	return &Provider{kubeconfig: cfg.Kubeconfig, context: cfg.Context, destinationAddr: cfg.DestinationAddr}, nil
}

func (p *Provider) Name() string       { return ProviderName }
func (p *Provider) OwnsClusters() bool { return false }

// Info: the cluster runs pods on nodes dstload knows nothing of, each with
// its own clock.
func (p *Provider) Info() provision.Capabilities {
	return provision.Capabilities{PodsRun: true, ClockSource: "cluster nodes' clocks (NTP assumed, not checked by dstload): observer in the churn pod, streams in the client pods"}
}

// Validate refuses to touch a cluster unless its context is named.
func (p *Provider) Validate() error {
	if p.context == "" {
		return errors.New("provider kubeconfig needs --context NAME: dstload never uses a cluster merely because it is the current context")
	}
	return nil
}

func (p *Provider) loader() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if p.kubeconfig != "" {
		rules.ExplicitPath = p.kubeconfig
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: p.context})
}

// Create checks that the named context exists and its API server answers,
// and records it. Nothing is created in the cluster.
func (p *Provider) Create(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	if err := p.Validate(); err != nil {
		return err
	}
	loader := p.loader()
	raw, err := loader.RawConfig()
	if err != nil {
		return fmt.Errorf("read kubeconfig: %w", err)
	}
	if _, ok := raw.Contexts[p.context]; !ok {
		return fmt.Errorf("context %q is not in the kubeconfig (%s); list them with 'kubectl config get-contexts'", p.context, describe(loader))
	}
	cfg, err := loader.ClientConfig()
	if err != nil {
		return fmt.Errorf("context %q: %w", p.context, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("context %q: %w", p.context, err)
	}
	vctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(vctx); err != nil {
		return fmt.Errorf("context %q: API server %s not ready: %w", p.context, cfg.Host, err)
	}
	path := loader.ConfigAccess().GetExplicitFile()
	if path == "" {
		path = loader.ConfigAccess().GetDefaultFilename()
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	c := provision.Cluster{Name: p.context, Kubeconfig: path, Context: p.context, Server: cfg.Host}
	if p.destinationAddr != "" {
		c.DestinationAddr, c.DestinationSource = p.destinationAddr, "external"
	}
	st.SetCluster(c)
	return save(st)
}

func describe(loader clientcmd.ClientConfig) string {
	if f := loader.ConfigAccess().GetExplicitFile(); f != "" {
		return f
	}
	return loader.ConfigAccess().GetDefaultFilename()
}

// Delete forgets the cluster; the cluster itself is never touched.
func (p *Provider) Delete(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	st.Clusters = nil
	return save(st)
}

// Status checks that each recorded context's API server is ready.
func (p *Provider) Status(ctx context.Context, env provision.Env, st *provision.State) ([]provision.ComponentStatus, error) {
	var out []provision.ComponentStatus
	for _, c := range st.Clusters {
		s := provision.ComponentStatus{Cluster: c.Name, Name: "apiserver", Address: c.Server, Health: provision.Unhealthy}
		cfg, err := provision.RESTConfig(c.Kubeconfig, c.Context)
		if err == nil {
			var cs *kubernetes.Clientset
			if cs, err = kubernetes.NewForConfig(cfg); err == nil {
				sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err = cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(sctx)
				cancel()
			}
		}
		if err != nil {
			s.Detail = err.Error()
		} else {
			s.Health = provision.Healthy
		}
		out = append(out, s)
	}
	return out, nil
}
