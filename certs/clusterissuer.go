package certs

import (
	"fmt"
	"path/filepath"
)

// EnsureClusterIssuer makes sure dir holds an identity issuer signed by the
// trust anchor in anchorDir and returns the anchor with it: the trust root
// of one more cluster that shares the anchor (linked clusters must) but has
// an issuer of its own, as separately installed clusters have. Like
// EnsureTrustRoot it keeps a valid issuer, re-issues an expired or nearly
// expired one, and reports anything else wrong instead of overwriting it.
func EnsureClusterIssuer(anchorDir, dir string, opts TrustRootOptions) (*TrustRoot, Outcome, error) {
	opts = opts.withDefaults()
	now := opts.Now()
	anchor, err := ReadKeyPair(anchorDir, AnchorName)
	if err != nil {
		return nil, Outcome{}, err
	}
	if err := checkAnchor(anchor.Cert, now); err != nil {
		return nil, Outcome{}, fmt.Errorf("%s: %w", filepath.Join(anchorDir, AnchorName+".crt"), err)
	}
	have, err := exists(dir, IssuerName)
	if err != nil {
		return nil, Outcome{}, err
	}
	reason := "new"
	issuerPath := filepath.Join(dir, IssuerName+".crt")
	if have {
		issuer, err := ReadKeyPair(dir, IssuerName)
		if err != nil {
			return nil, Outcome{}, err
		}
		if err := issuer.Cert.CheckSignatureFrom(anchor.Cert); err != nil {
			return nil, Outcome{}, fmt.Errorf("%s was not signed by the trust anchor in %s; remove it to issue a new one: %w", issuerPath, anchorDir, err)
		}
		switch {
		case !now.Before(issuer.Cert.NotAfter):
			reason = "expired"
		case issuer.Cert.NotAfter.Sub(now) < renewWindow(issuer.Cert):
			reason = "near expiry"
		default:
			tr := &TrustRoot{Anchor: anchor, Issuer: issuer}
			if err := tr.Verify(now); err != nil {
				return nil, Outcome{}, fmt.Errorf("%s: %w", issuerPath, err)
			}
			return tr, Outcome{}, nil
		}
	}
	issuer, err := newIssuer(anchor, opts.IssuerValidity, now)
	if err != nil {
		return nil, Outcome{}, err
	}
	if err := issuer.Write(dir, IssuerName); err != nil {
		return nil, Outcome{}, err
	}
	return &TrustRoot{Anchor: anchor, Issuer: issuer}, Outcome{IssuerIssued: true, Reason: reason}, nil
}
