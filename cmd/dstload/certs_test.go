package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dstload/dstload/certs"
)

// runCLI runs dstload in-process and returns exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCertsGenerateKeepsAnchor(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tr")
	code, out1, errOut := runCLI(t, "certs", "generate", "--dir", dir)
	if code != 0 {
		t.Fatalf("first generate: exit %d: %s", code, errOut)
	}
	code, out2, errOut := runCLI(t, "certs", "generate", "--dir", dir)
	if code != 0 {
		t.Fatalf("second generate: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out2, "nothing changed") {
		t.Errorf("second run output %q should say nothing changed", out2)
	}
	fp := func(s string) string {
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "anchor fingerprint") {
				return l
			}
		}
		return ""
	}
	if fp(out1) == "" || fp(out1) != fp(out2) {
		t.Fatalf("anchor fingerprint changed:\n%s\n%s", out1, out2)
	}
	for _, s := range []string{out1, out2, errOut} {
		if strings.Contains(s, "PRIVATE KEY") {
			t.Fatal("a private key was printed")
		}
	}

	code, js, errOut := runCLI(t, "certs", "inspect", "--dir", dir, "-o", "json")
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, errOut)
	}
	var in certs.Inspection
	if err := json.Unmarshal([]byte(js), &in); err != nil {
		t.Fatalf("inspect -o json: %v\n%s", err, js)
	}
	if !in.Valid || in.Anchor == nil || !strings.Contains(fp(out1), in.Anchor.FingerprintSHA256) {
		t.Fatalf("inspect = %+v", in)
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		want    int
		wantErr string
	}{
		{"help", []string{"--help"}, exitOK, ""},
		{"version", []string{"version"}, exitOK, ""},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"unknown flag", []string{"certs", "generate", "--nope"}, exitUsage, "unknown flag"},
		{"bad duration", []string{"certs", "generate", "--dir", dir, "--validity", "soon"}, exitUsage, "--validity"},
		{"issuer outlives anchor", []string{"certs", "generate", "--dir", dir, "--validity", "100h", "--anchor-validity", "10h"}, exitUsage, "must not exceed"},
		{"bad log format", []string{"--log-format", "xml", "version"}, exitUsage, "--log-format"},
		{"bad log level", []string{"--log-level", "loud", "version"}, exitUsage, "--log-level"},
		{"inspect nothing", []string{"certs", "inspect", "--dir", filepath.Join(dir, "none")}, exitUsage, "dstload certs generate"},
		{"bad output", []string{"version", "-o", "xml"}, exitUsage, "--output"},
		{"extra argument", []string{"version", "extra"}, exitUsage, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code != tt.want {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.want, errOut)
			}
			if tt.wantErr != "" {
				if !strings.Contains(errOut, tt.wantErr) {
					t.Fatalf("stderr %q should contain %q", errOut, tt.wantErr)
				}
				if n := strings.Count(strings.TrimSpace(errOut), "\n"); n != 0 {
					t.Fatalf("error is %d lines, want one: %q", n+1, errOut)
				}
			}
		})
	}
}

func TestCompletion(t *testing.T) {
	code, out, errOut := runCLI(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "dstload") {
		t.Fatalf("completion bash: exit %d %s", code, errOut)
	}
}
