package main

import (
	"fmt"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
)

// kubeFlags are the cluster-access flags churn, client and observe share:
// kubectl's own --kubeconfig, --context, -n/--namespace and
// --request-timeout (cli-runtime's ConfigFlags, so they read and default
// exactly as kubectl's do: in a pod, the in-cluster config and the pod's
// namespace), plus the client-side rate limits a load generator needs.
type kubeFlags struct {
	cf    *genericclioptions.ConfigFlags
	qps   float32
	burst int
	// protobuf asks the API server for protobuf instead of JSON: a
	// fraction of the decoding cost for a watcher of large objects.
	protobuf bool
}

func newKubeFlags() kubeFlags {
	str := func(s string) *string { return &s }
	// Only the fields set here become flags; kubectl's impersonation and
	// credential flags mean nothing to a load generator.
	return kubeFlags{cf: &genericclioptions.ConfigFlags{
		KubeConfig: str(""), Context: str(""), Namespace: str(""), Timeout: str("0"),
	}}
}

func (k *kubeFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	k.cf.AddFlags(fs)
	fs.Float32Var(&k.qps, "kube-qps", 200, "API requests per second allowed (client-go's default of 5 cannot scale 100 Deployments in a second)")
	fs.IntVar(&k.burst, "kube-burst", 400, "API request burst")
	_ = cmd.RegisterFlagCompletionFunc("context", k.completeContexts)
	_ = cmd.RegisterFlagCompletionFunc("namespace", k.completeNamespaces)
}

// namespace is -n, else the kubeconfig context's, else (in a pod) the
// pod's own, else "default".
func (k *kubeFlags) namespace() (string, error) {
	ns, _, err := k.cf.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("load kubeconfig: %w", err)
	}
	return ns, nil
}

func (k *kubeFlags) clientset() (kubernetes.Interface, error) {
	cfg, err := k.cf.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = k.qps, k.burst
	if k.protobuf {
		cfg.ContentType = runtime.ContentTypeProtobuf
		cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return cs, nil
}

// completeContexts offers the kubeconfig's context names.
func (k *kubeFlags) completeContexts(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	raw, err := k.cf.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var out []string
	for name := range raw.Contexts {
		out = append(out, name)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeNamespaces lists the cluster's namespaces, as kubectl does.
func (k *kubeFlags) completeNamespaces(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	cs, err := k.clientset()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	list, err := cs.CoreV1().Namespaces().List(cmd.Context(), metav1.ListOptions{})
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var out []string
	for _, n := range list.Items {
		out = append(out, n.Name)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
