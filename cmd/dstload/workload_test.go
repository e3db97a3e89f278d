package main

import (
	"strings"
	"testing"
)

// TestWorkloadFlagErrors: bad churn/client flags are one line naming the
// fix, exit 2, before any cluster or server is contacted.
func TestWorkloadFlagErrors(t *testing.T) {
	client := []string{"client", "--destination-addr", "127.0.0.1:1", "--services", "a"}
	churn := []string{"churn", "--selector", "a=b"}
	tests := []struct {
		args []string
		want string
	}{
		{append(churn, "--min", "5", "--max", "2"), "--min 5 is greater than --max 2"},
		{append(churn, "--min", "3", "--max", "3"), "oscillate needs min < max"},
		{append(churn, "--pattern", "zigzag"), "use stable or oscillate"},
		{append(churn, "--hold", "-1s"), "invalid --hold"},
		{append(churn, "--jitter", "-1s"), "must not be negative"},
		{append(churn, "--jitter", "5q"), `invalid argument "5q" for "--jitter"`},
		{append(churn, "--cycles", "-2"), "--cycles must be 0"},
		{[]string{"churn"}, "--selector is required"},
		{append(client, "--streams-per-service", "0"), "--streams-per-service must be at least 1"},
		{append(client, "--connections", "0"), "--connections must be at least 1"},
		{append(client, "--lifetime-jitter", "1s"), "--lifetime-jitter needs --lifetime"},
		{append(client, "--lifetime", "soon"), `invalid argument "soon" for "--lifetime"`},
		{append(client, "--backoff-min", "2s", "--backoff-max", "1s"), "0 < --backoff-min <= --backoff-max"},
		{append(client, "--sample-streams", "-5"), "--sample-streams must be -1"},
		{append(client, "--port", "0"), "invalid --port 0"},
		{append(client, "--selector", "x=y"), "exactly one of --selector or --services"},
		{[]string{"client", "--services", "a"}, "--destination-addr is required"},
		{append(client, "--events-url", "churn:9102"), "invalid --events-url"},
		{append(client[:4:4], "ns/"), `invalid service "ns/"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code != exitUsage || !strings.Contains(errOut, tt.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want exit %d and one line containing %q", code, errOut, exitUsage, tt.want)
			}
		})
	}
}
