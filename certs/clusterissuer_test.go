package certs

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnsureClusterIssuer(t *testing.T) {
	root := filepath.Join(t.TempDir(), "certs")
	tr, _ := mustEnsure(t, root, TrustRootOptions{})
	dir := filepath.Join(root, "clusters", "dstload-2")

	first, out, err := EnsureClusterIssuer(root, dir, TrustRootOptions{})
	if err != nil || !out.IssuerIssued || out.Reason != "new" {
		t.Fatalf("first: outcome %+v, err %v; want a new issuer", out, err)
	}
	if first.Anchor.Fingerprint() != tr.Anchor.Fingerprint() {
		t.Error("the cluster's trust root has another anchor: linked clusters must share it")
	}
	if first.Issuer.Fingerprint() == tr.Issuer.Fingerprint() {
		t.Error("the cluster got the first cluster's issuer, not one of its own")
	}
	if err := first.Verify(time.Now()); err != nil {
		t.Errorf("issuer does not verify against the shared anchor: %v", err)
	}
	again, out, err := EnsureClusterIssuer(root, dir, TrustRootOptions{})
	if err != nil || out.IssuerIssued || again.Issuer.Fingerprint() != first.Issuer.Fingerprint() {
		t.Errorf("second: outcome %+v, err %v; want the valid issuer kept", out, err)
	}
	later := func() time.Time { return time.Now().Add(DefaultIssuerValidity + time.Hour) }
	if _, out, err := EnsureClusterIssuer(root, dir, TrustRootOptions{Now: later}); err != nil || out.Reason != "expired" {
		t.Errorf("after expiry: outcome %+v, err %v; want re-issued", out, err)
	}

	// An issuer of another anchor is reported, never replaced.
	other := filepath.Join(t.TempDir(), "other")
	mustEnsure(t, other, TrustRootOptions{})
	if _, _, err := EnsureClusterIssuer(other, dir, TrustRootOptions{}); err == nil || !strings.Contains(err.Error(), "not signed by the trust anchor") {
		t.Errorf("issuer of another anchor: err %v", err)
	}
	if _, _, err := EnsureClusterIssuer(t.TempDir(), dir, TrustRootOptions{}); err == nil {
		t.Error("no anchor: want an error")
	}
}
