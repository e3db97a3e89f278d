package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/k3d"
	"github.com/dstload/dstload/provision/kubeconfig"
	"github.com/dstload/dstload/provision/local"
)

// dockerProbeTimeout bounds how long `up` without --provider waits for
// Docker before it settles for the local provider.
const dockerProbeTimeout = 5 * time.Second

// chooseProvider picks the provider for `up` when --provider is not
// given, and says why in one line: the one the environment already
// records (a plain `up` resumes or repairs it); the one the flags imply
// (--destination-bin and --destination-arg only work on local,
// --kubeconfig and --context name an existing cluster); else k3d when a
// local Docker daemon answers, else local.
func chooseProvider(ctx context.Context, cmd *cobra.Command, envDir string, checkDocker func(context.Context) error) (name, why string, err error) {
	st, err := provision.LoadState(envDir)
	switch {
	case err == nil:
		return st.Provider, "the environment's recorded provider", nil
	case !errors.Is(err, provision.ErrNoState):
		return "", "", err
	}
	changed := cmd.Flags().Changed
	switch {
	case changed("kubeconfig") || changed("context"):
		return kubeconfig.ProviderName, "--kubeconfig/--context name an existing cluster", nil
	case changed("destination-bin") || changed("destination-arg") || changed("bin-dir"):
		return local.ProviderName, "--destination-bin, --destination-arg and --bin-dir are local's", nil
	}
	if derr := checkDocker(ctx); derr != nil {
		if ctx.Err() != nil {
			return "", "", ctx.Err()
		}
		var du *k3d.DockerUnavailableError
		reason := derr.Error()
		if errors.As(derr, &du) && du.Err != nil && du.Timeout == 0 {
			reason = "Docker is not reachable: " + du.Err.Error()
		} else if du != nil {
			reason = fmt.Sprintf("Docker did not answer within %s", du.Timeout)
		}
		return local.ProviderName, oneLine(reason) + "; --provider k3d insists on k3d", nil
	}
	return k3d.ProviderName, "a local Docker daemon answers; --provider local runs without it", nil
}
