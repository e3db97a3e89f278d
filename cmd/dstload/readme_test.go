package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dstload/dstload/provision/local/localtest"
)

// TestReadmeQuickStart runs the README's quick start as a newcomer would:
// every line of the block between the quickstart markers, in a fresh
// directory and state dir, on a machine without Docker (up must choose
// local by itself). The one change: `go build -o dstload` runs in the
// repository and writes into the test's directory.
func TestReadmeQuickStart(t *testing.T) {
	localtest.RequireBinaries(t)
	localtest.RealDestination(t)
	lines := quickStart(t, "../../README.md")
	if len(lines) < 4 || !strings.HasPrefix(lines[0], "go build -o dstload ") {
		t.Fatalf("README quick start is not 'go build' then dstload commands: %q", lines)
	}
	dir := t.TempDir()
	env := append(os.Environ(),
		"DSTLOAD_HOME="+filepath.Join(dir, "state"),
		"DOCKER_HOST=unix://"+filepath.Join(dir, "no-docker.sock"), "DOCKER_CONTEXT=",
		asCLI+"=") // the built binary, not this test binary
	t.Cleanup(func() {
		c := exec.Command(filepath.Join(dir, "dstload"), "down")
		c.Dir, c.Env = dir, env
		c.Run()
	})
	for i, line := range lines {
		start := time.Now()
		c := exec.Command("sh", "-c", line)
		c.Dir, c.Env = dir, env
		if i == 0 {
			c = exec.Command("sh", "-c", strings.Replace(line, "-o dstload", "-o "+filepath.Join(dir, "dstload"), 1))
			c.Dir, c.Env = "../..", env
		}
		out, err := c.CombinedOutput()
		t.Logf("$ %s  (%s)\n%s", line, time.Since(start).Round(100*time.Millisecond), tail(string(out), 12))
		if err != nil {
			t.Fatalf("README quick start line %q: %v\n%s", line, err, out)
		}
		switch {
		case strings.HasPrefix(line, "./dstload up") && !strings.Contains(string(out), "provider local: Docker is not reachable"):
			t.Errorf("up did not say it chose local for want of Docker:\n%s", out)
		case strings.HasPrefix(line, "./dstload run") && (!strings.Contains(string(out), ": PASS") || !strings.Contains(string(out), "report.md")):
			t.Errorf("run did not pass or name its report:\n%s", out)
		}
	}
}

// quickStart returns the command lines of the README block between the
// quickstart markers.
func quickStart(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, "<!-- quickstart"):
			in = true
		case strings.HasPrefix(l, "<!-- /quickstart"):
			return lines
		case in && l != "" && !strings.HasPrefix(l, "```"):
			lines = append(lines, l)
		}
	}
	t.Fatalf("%s has no quickstart block", path)
	return nil
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
