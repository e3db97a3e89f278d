package certs

import (
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustEnsure(t *testing.T, dir string, opts TrustRootOptions) (*TrustRoot, Outcome) {
	t.Helper()
	tr, out, err := EnsureTrustRoot(dir, opts)
	if err != nil {
		t.Fatalf("EnsureTrustRoot: %v", err)
	}
	return tr, out
}

func TestEnsureTrustRootIsIdempotent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	first, out := mustEnsure(t, dir, TrustRootOptions{})
	if !out.AnchorCreated || !out.IssuerIssued {
		t.Fatalf("first run outcome = %+v, want anchor and issuer created", out)
	}
	second, out := mustEnsure(t, dir, TrustRootOptions{})
	if out.AnchorCreated || out.IssuerIssued {
		t.Fatalf("second run outcome = %+v, want nothing changed", out)
	}
	if first.Anchor.Fingerprint() != second.Anchor.Fingerprint() {
		t.Error("anchor changed between runs")
	}
	if first.Issuer.Fingerprint() != second.Issuer.Fingerprint() {
		t.Error("valid issuer was re-issued")
	}
}

func TestGeneratedTrustRootMeetsLinkerdRequirements(t *testing.T) {
	dir := t.TempDir()
	tr, _ := mustEnsure(t, dir, TrustRootOptions{})
	now := time.Now()
	a, i := tr.Anchor.Cert, tr.Issuer.Cert

	checks := []struct {
		name string
		ok   bool
	}{
		{"anchor is CA", a.IsCA && a.BasicConstraintsValid},
		{"anchor can sign", a.KeyUsage&x509.KeyUsageCertSign != 0 && a.KeyUsage&x509.KeyUsageCRLSign != 0},
		{"anchor has no path length limit", a.MaxPathLen == -1 && !a.MaxPathLenZero},
		{"anchor CN", a.Subject.CommonName == AnchorCN},
		{"anchor ~10y", a.NotAfter.Sub(now) > 9*365*24*time.Hour},
		{"issuer is CA", i.IsCA && i.BasicConstraintsValid},
		{"issuer can sign", i.KeyUsage&x509.KeyUsageCertSign != 0},
		{"issuer path length 0", i.MaxPathLen == 0 && i.MaxPathLenZero},
		{"issuer CN", i.Subject.CommonName == IssuerCN},
		{"issuer ~1y", i.NotAfter.Sub(now) > 364*24*time.Hour && i.NotAfter.Sub(now) <= 366*24*time.Hour},
		{"NotBefore in the past", a.NotBefore.Before(now) && i.NotBefore.Before(now)},
		{"ECDSA-SHA256", a.SignatureAlgorithm == x509.ECDSAWithSHA256 && i.SignatureAlgorithm == x509.ECDSAWithSHA256},
		{"no EKU on CAs (Verify would demand ServerAuth)", len(a.ExtKeyUsage) == 0 && len(i.ExtKeyUsage) == 0},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not satisfied", c.name)
		}
	}

	// Linkerd's install check: x509 Verify with the anchors as roots, no
	// intermediates and an empty DNS name.
	roots := x509.NewCertPool()
	roots.AddCert(a)
	if _, err := i.Verify(x509.VerifyOptions{Roots: roots}); err != nil {
		t.Errorf("issuer does not verify the way Linkerd verifies it: %v", err)
	}
	if err := checkP256(i); err != nil {
		t.Error(err)
	}

	// The identity controller issues leaves from the issuer: make sure such a
	// leaf verifies up to the anchor with the issuer as intermediate.
	leaf, err := tr.Issuer.IssueServing("web.default.serviceaccount.identity.linkerd.cluster.local",
		[]string{"web.default.serviceaccount.identity.linkerd.cluster.local"}, nil, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	inter.AddCert(i)
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
		t.Errorf("leaf from issuer does not verify: %v", err)
	}
}

func TestOpenSSLVerifiesChain(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl not found; CI installs it (Debian package openssl)")
		}
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	mustEnsure(t, dir, TrustRootOptions{})
	out, err := exec.Command(openssl, "verify", "-CAfile", filepath.Join(dir, "ca.crt"), filepath.Join(dir, "issuer.crt")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify: %v: %s", err, out)
	}
	// openssl must also read our key format.
	for _, k := range []string{"ca.key", "issuer.key"} {
		out, err := exec.Command(openssl, "ec", "-in", filepath.Join(dir, k), "-noout", "-check").CombinedOutput()
		if err != nil {
			t.Errorf("openssl ec -check %s: %v: %s", k, err, out)
		}
	}
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "certs")
	mustEnsure(t, dir, TrustRootOptions{})
	want := map[string]os.FileMode{
		"":           DirMode,
		"ca.key":     KeyMode,
		"issuer.key": KeyMode,
		"ca.crt":     CertMode,
		"issuer.crt": CertMode,
	}
	for name, mode := range want {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != mode {
			t.Errorf("%q mode = %o, want %o", name, got, mode)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("directory holds %d files, want exactly 4 (no temp files left)", len(entries))
	}
}

func TestIssuerRenewal(t *testing.T) {
	year := 365 * 24 * time.Hour
	tests := []struct {
		name       string
		after      time.Duration // how far the clock moves after generation
		wantReason string
	}{
		{"fresh issuer kept", 24 * time.Hour, ""},
		{"near expiry re-issued", year - 30*24*time.Hour, "near expiry"},
		{"expired re-issued", year + 24*time.Hour, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first, _ := mustEnsure(t, dir, TrustRootOptions{})
			later := func() time.Time { return time.Now().Add(tt.after) }
			second, out := mustEnsure(t, dir, TrustRootOptions{Now: later})
			if out.AnchorCreated {
				t.Fatal("anchor replaced")
			}
			if second.Anchor.Fingerprint() != first.Anchor.Fingerprint() {
				t.Fatal("anchor fingerprint changed")
			}
			if out.Reason != tt.wantReason {
				t.Fatalf("reason = %q, want %q", out.Reason, tt.wantReason)
			}
			if tt.wantReason == "" {
				return
			}
			if second.Issuer.Fingerprint() == first.Issuer.Fingerprint() {
				t.Fatal("issuer not re-issued")
			}
			if err := second.Verify(later()); err != nil {
				t.Fatalf("re-issued trust root invalid: %v", err)
			}
			// The new issuer is what is on disk now.
			if _, err := LoadTrustRoot(dir, later()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// corrupt applies a change to a valid trust-root directory.
type corruption func(t *testing.T, dir string)

func writeOver(name, content string) corruption {
	return func(t *testing.T, dir string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFrom(other, name string) corruption {
	return func(t *testing.T, dir string) {
		data, err := os.ReadFile(filepath.Join(other, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func remove(name string) corruption {
	return func(t *testing.T, dir string) {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func writeTrustRoot(t *testing.T, dir string, tr *TrustRoot) {
	t.Helper()
	if err := tr.Anchor.Write(dir, AnchorName); err != nil {
		t.Fatal(err)
	}
	if err := tr.Issuer.Write(dir, IssuerName); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRejectsBadInput(t *testing.T) {
	other := t.TempDir()
	mustEnsure(t, other, TrustRootOptions{})
	expiredDir := t.TempDir()
	old, err := NewTrustRoot(365*24*time.Hour, 30*24*time.Hour, time.Now().Add(-2*365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	writeTrustRoot(t, expiredDir, old)

	tests := []struct {
		name     string
		mutate   corruption
		wantFile string // the error must name this file
		wantText string
	}{
		{"garbage anchor", writeOver("ca.crt", "not a certificate"), "ca.crt", "not a PEM certificate"},
		{"garbage issuer key", writeOver("issuer.key", "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), "issuer.key", "private key"},
		{"issuer key from another root", copyFrom(other, "issuer.key"), "issuer.key", "does not belong"},
		{"anchor key from another root", copyFrom(other, "ca.key"), "ca.key", "does not belong"},
		{"issuer from another anchor", func(t *testing.T, dir string) {
			copyFrom(other, "issuer.crt")(t, dir)
			copyFrom(other, "issuer.key")(t, dir)
		}, "issuer.crt", "does not verify"},
		{"missing issuer", remove("issuer.crt"), "issuer.crt", "no such file"},
		{"expired anchor", func(t *testing.T, dir string) {
			for _, f := range []string{"ca.crt", "ca.key", "issuer.crt", "issuer.key"} {
				copyFrom(expiredDir, f)(t, dir)
			}
		}, "ca.crt", "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			mustEnsure(t, dir, TrustRootOptions{})
			tt.mutate(t, dir)
			_, err := LoadTrustRoot(dir, time.Now())
			if err == nil {
				t.Fatal("LoadTrustRoot accepted a broken trust root")
			}
			if !strings.Contains(err.Error(), filepath.Join(dir, tt.wantFile)) || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("error %q should name %s and say %q", err, tt.wantFile, tt.wantText)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans several lines: %q", err)
			}
		})
	}
}

func TestEnsureNeverOverwritesBrokenAnchor(t *testing.T) {
	tests := []struct {
		name   string
		mutate corruption
	}{
		{"corrupt anchor", writeOver("ca.crt", "garbage")},
		{"anchor key without certificate", remove("ca.crt")},
		{"issuer without anchor", func(t *testing.T, dir string) {
			remove("ca.crt")(t, dir)
			remove("ca.key")(t, dir)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			mustEnsure(t, dir, TrustRootOptions{})
			tt.mutate(t, dir)
			before := snapshot(t, dir)
			if _, _, err := EnsureTrustRoot(dir, TrustRootOptions{}); err == nil {
				t.Fatal("EnsureTrustRoot replaced a broken trust root instead of reporting it")
			}
			if after := snapshot(t, dir); after != before {
				t.Fatal("EnsureTrustRoot changed files after failing")
			}
		})
	}
}

func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		b.WriteString(e.Name() + "\x00" + string(data) + "\x00")
	}
	return b.String()
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	tr, _ := mustEnsure(t, dir, TrustRootOptions{})
	in := Inspect(dir, time.Now())
	if !in.Valid || in.Problem != "" {
		t.Fatalf("Inspect = %+v, want valid", in)
	}
	if in.Anchor.FingerprintSHA256 != tr.Anchor.Fingerprint() || in.Issuer.FingerprintSHA256 != tr.Issuer.Fingerprint() {
		t.Error("fingerprints differ from the certificates")
	}
	if in.Issuer.MaxPathLen == nil || *in.Issuer.MaxPathLen != 0 || in.Anchor.MaxPathLen != nil {
		t.Errorf("path lengths: anchor %v issuer %v", in.Anchor.MaxPathLen, in.Issuer.MaxPathLen)
	}
	writeOver("issuer.crt", "garbage")(t, dir)
	in = Inspect(dir, time.Now())
	if in.Valid || in.Anchor == nil || in.Issuer != nil || !strings.Contains(in.Problem, "issuer.crt") {
		t.Fatalf("Inspect of broken issuer = %+v", in)
	}
}
