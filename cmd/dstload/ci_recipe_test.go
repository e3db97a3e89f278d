package main

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestCIRecipe parses docs/ci's workflow and script and checks every
// dstload command in them against the command tree: the command exists
// and takes those flags. The two must run the same dstload commands.
func TestCIRecipe(t *testing.T) {
	b, err := os.ReadFile("../../docs/ci/github-actions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]struct {
			Steps []struct {
				Name string `json:"name"`
				Uses string `json:"uses"`
				Run  string `json:"run"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatalf("workflow does not parse: %v", err)
	}
	job, ok := wf.Jobs["dstload"]
	if !ok || len(job.Steps) == 0 {
		t.Fatalf("workflow has no dstload job: %+v", wf)
	}
	var fromWorkflow []string
	for _, s := range job.Steps {
		if s.Uses == "" && s.Run == "" {
			t.Errorf("step %q neither uses an action nor runs anything", s.Name)
		}
		fromWorkflow = append(fromWorkflow, dstloadLines(s.Run)...)
	}
	sh, err := os.ReadFile("../../docs/ci/dstload-ci.sh")
	if err != nil {
		t.Fatal(err)
	}
	fromScript := dstloadLines(string(sh))
	// The script's trap runs down; the workflow's last step does.
	if len(fromWorkflow) < 4 || len(fromScript) < 3 {
		t.Fatalf("too few dstload commands: workflow %q, script %q", fromWorkflow, fromScript)
	}
	for _, l := range append(append([]string(nil), fromWorkflow...), fromScript...) {
		args := shellWords(l)[1:]
		code, _, errOut := runCLI(t, append(args, "--help")...)
		if code != 0 {
			t.Errorf("%q: exit %d: %s", l, code, errOut)
		}
	}
	names := func(ls []string) []string {
		var out []string
		for _, l := range ls {
			if w := shellWords(l); len(w) > 1 && w[1] != "down" {
				out = append(out, w[1])
			}
		}
		return out
	}
	if !reflect.DeepEqual(names(fromWorkflow), names(fromScript)) {
		t.Errorf("workflow runs %v, script %v", names(fromWorkflow), names(fromScript))
	}
}

// dstloadLines returns the lines of a shell snippet that run dstload.
func dstloadLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "dstload ") {
			out = append(out, l)
		}
		if i := strings.Index(l, "'dstload "); i >= 0 { // trap 'dstload down' EXIT
			out = append(out, strings.SplitN(l[i+1:], "'", 2)[0])
		}
	}
	return out
}

// shellWords splits a command line into words, honouring double quotes;
// a word holding a shell expansion becomes "x" (a stand-in path or name).
func shellWords(l string) []string {
	var words []string
	var cur strings.Builder
	quoted, has := false, false
	flush := func() {
		if has {
			w := cur.String()
			if strings.Contains(w, "$") {
				w = "x"
			}
			words = append(words, w)
		}
		cur.Reset()
		has = false
	}
	for _, r := range l {
		switch {
		case r == '"':
			quoted, has = !quoted, true
		case r == ' ' && !quoted:
			flush()
		default:
			cur.WriteRune(r)
			has = true
		}
	}
	flush()
	return words
}
