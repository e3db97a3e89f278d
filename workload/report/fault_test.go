package report

import (
	"strings"
	"testing"
	"time"
)

func TestApplyFault(t *testing.T) {
	env := &Fault{Component: "kube-apiserver", Detail: "its process (pid 3) is not running", Repair: "'dstload up'"}
	dst := &Fault{Component: "destination", Detail: "its process (pid 4) is not running", Repair: "'dstload up'", UnderTest: true}
	for _, tc := range []struct {
		fault          *Fault
		criteria, want string
	}{
		{nil, Pass, Pass},
		{nil, Fail, Fail},
		// The environment failed: no verdict on the controller.
		{env, Pass, Incomplete},
		{env, Fail, Incomplete},
		{env, Inconclusive, Incomplete},
		// The controller failed: a finding when a criterion says so.
		{dst, Fail, Fail},
		{dst, Pass, Incomplete},
		{dst, Inconclusive, Incomplete},
	} {
		r := &Report{Verdict: tc.criteria}
		applyFault(r, tc.fault)
		if r.Verdict != tc.want || r.Fault != tc.fault {
			t.Errorf("fault %v, criteria %s: verdict %s, want %s", tc.fault, tc.criteria, r.Verdict, tc.want)
		}
	}
	since := time.Date(2026, 12, 1, 17, 10, 57, 0, time.UTC)
	env.Since, env.Noticed = since, since.Add(time.Second)
	for _, want := range []string{"kube-apiserver failed since 17:10:57 UTC", "pid 3", "stopped at 17:10:58", "repair: 'dstload up'"} {
		if !strings.Contains(env.Line(), want) {
			t.Errorf("line %q lacks %q", env.Line(), want)
		}
	}
	if dst.Line()[:len("the destination controller failed")] != "the destination controller failed" {
		t.Errorf("line %q", dst.Line())
	}
}
