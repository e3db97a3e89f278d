package stack

import (
	"fmt"

	"helm.sh/helm/v3/pkg/chartutil"
	helmvalues "helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"

	"github.com/dstload/dstload/certs"
	"github.com/dstload/dstload/values"
)

// IssuerScheme is the identity issuer scheme whose Secret the chart renders
// from identity.issuer.tls.crtPEM/keyPEM.
const IssuerScheme = "linkerd.io/tls"

// ValueLayers are the sources of a release's values, lowest priority first.
type ValueLayers struct {
	// Embedded is values/<release>.yaml (nil when there is none).
	Embedded []byte
	// UserFiles are the user's values files for the release, in order.
	UserFiles []string
	// UserSet are the user's --set assignments for the release (Helm's
	// syntax: key.path=value,other=value), applied after the files.
	UserSet []string
	// Computed are values dstload derives (identity from the trust root,
	// cluster facts); they win over everything else.
	Computed map[string]any
}

// BuildValues merges the layers: embedded file, then each user file, then
// the computed values. Maps merge key by key; anything else is replaced.
func BuildValues(release string, l ValueLayers) (map[string]any, error) {
	out := map[string]any{}
	if len(l.Embedded) > 0 {
		v, err := chartutil.ReadValues(l.Embedded)
		if err != nil {
			return nil, fmt.Errorf("embedded values for %s: %w", release, err)
		}
		out = mergeMaps(out, v)
	}
	if len(l.UserFiles) > 0 || len(l.UserSet) > 0 {
		// Helm's own -f/--set merging, so they mean what they mean to
		// helm users. No getters: values come from local files only.
		opts := helmvalues.Options{ValueFiles: l.UserFiles, Values: l.UserSet}
		v, err := opts.MergeValues(getter.Providers{})
		if err != nil {
			return nil, fmt.Errorf("user values for %s: %w", release, err)
		}
		out = mergeMaps(out, v)
	}
	return mergeMaps(out, l.Computed), nil
}

// mergeMaps merges b into a (b wins), recursing into maps, as `helm -f a -f b`
// does.
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := asMap(v); ok {
			if am, ok := asMap(out[k]); ok {
				out[k] = mergeMaps(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case chartutil.Values:
		return m, true
	}
	return nil, false
}

// IdentityValues are the linkerd-control-plane values that carry the trust
// root: the anchor bundle (ConfigMap linkerd-identity-trust-roots) and the
// issuer certificate and key (Secret linkerd-identity-issuer). The result
// holds a private key: never log it.
func IdentityValues(tr *certs.TrustRoot) (map[string]any, error) {
	if tr == nil || tr.Anchor == nil || tr.Issuer == nil {
		return nil, fmt.Errorf("no trust root: linkerd-control-plane needs the trust anchor and issuer")
	}
	keyPEM, err := tr.Issuer.KeyPEM()
	if err != nil {
		return nil, fmt.Errorf("issuer key: %w", err)
	}
	return map[string]any{
		"identityTrustAnchorsPEM": string(tr.Anchor.CertPEM()),
		"identity": map[string]any{
			"issuer": map[string]any{
				"scheme": IssuerScheme,
				"tls": map[string]any{
					"crtPEM": string(tr.Issuer.CertPEM()),
					"keyPEM": string(keyPEM),
				},
			},
		},
	}, nil
}

// embeddedValues returns values/<release>.yaml, if any.
func embeddedValues(release string) []byte {
	data, _ := values.StackValues(release)
	return data
}
