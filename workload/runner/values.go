package runner

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/dstload/dstload/charts"
	"github.com/dstload/dstload/workload/scenario"
)

// Image is the dstload image the chart's churn and client pods run; the
// zero value keeps the chart's default (the published image).
type Image struct {
	Repository, Tag, PullPolicy string
}

// ChartValues maps a scenario onto the dst-load-test chart for the
// in-cluster path: targets, churn and client on, monitors off. destAddr ""
// keeps the chart's in-cluster default (Linkerd's destination Service).
//
// A stable scenario still runs churn, because churn's pod carries the
// observer: its one wave writes every Deployment's current size (min = max
// = services.endpoints), which changes no endpoint.
func ChartValues(s *scenario.Scenario, img Image, destAddr string) map[string]any {
	c := s.Churn
	churnVals := map[string]any{"enabled": true, "pattern": c.Pattern}
	switch c.Pattern {
	case scenario.PatternOscillate:
		churnVals["min"], churnVals["max"] = c.Min, c.Max
		churnVals["holdMax"], churnVals["holdMin"] = c.HoldMax.String(), c.HoldMin.String()
		churnVals["jitter"], churnVals["cycles"] = c.Jitter.String(), c.Cycles
	default:
		churnVals["min"], churnVals["max"] = s.Services.Endpoints, s.Services.Endpoints
		churnVals["jitter"], churnVals["cycles"] = "0s", 0
	}
	clientVals := map[string]any{
		"enabled":           true,
		"replicas":          s.Clients.Processes,
		"streamsPerService": s.StreamsPerClientService(),
		"connections":       s.Clients.Connections,
		"sampleStreams":     sampleStreamsPerProcess(s),
	}
	if destAddr != "" {
		clientVals["destinationAddr"] = destAddr
	}
	vals := map[string]any{
		"targets":    map[string]any{"enabled": true, "count": s.Services.Count, "replicas": s.Services.Endpoints, "namePrefix": namePrefix},
		"churn":      churnVals,
		"client":     clientVals,
		"monitoring": map[string]any{"enabled": false},
		// Set, not defaulted: the run reads this port through the proxy.
		"admin": map[string]any{"port": adminPort},
	}
	if img.Repository != "" {
		im := map[string]any{"repository": img.Repository, "tag": img.Tag}
		if img.PullPolicy != "" {
			im["pullPolicy"] = img.PullPolicy
		}
		vals["image"] = im
	}
	return vals
}

// ChartDestinationAddr is the chart's default client.destinationAddr: the
// address client pods dial when the run does not name one.
func ChartDestinationAddr() (string, error) {
	ch, err := charts.DstLoadTest()
	if err != nil {
		return "", err
	}
	cl, _ := ch.Values["client"].(map[string]any)
	addr, _ := cl["destinationAddr"].(string)
	if addr == "" {
		return "", errors.New("chart dst-load-test has no default client.destinationAddr")
	}
	return addr, nil
}

// holdChurn is a Helm post-renderer that installs the churn Deployment
// with zero replicas. The chart starts churn at once; the run starts it
// (scale to 1) only when every client stream holds every endpoint, as the
// local path does, so the first wave is measured on connected streams.
type holdChurn struct{}

func (holdChurn) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(in))
	var out bytes.Buffer
	found := 0
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("post-render: %w", err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, fmt.Errorf("post-render: %w", err)
		}
		if obj == nil {
			continue // an empty document (comments only)
		}
		if isChurnDeployment(obj) {
			spec, _ := obj["spec"].(map[string]any)
			if spec == nil {
				return nil, errors.New("post-render: churn Deployment without spec")
			}
			spec["replicas"] = 0
			found++
			if doc, err = yaml.Marshal(obj); err != nil {
				return nil, fmt.Errorf("post-render: %w", err)
			}
		}
		out.WriteString("---\n")
		out.Write(doc)
		if !bytes.HasSuffix(doc, []byte("\n")) {
			out.WriteString("\n")
		}
	}
	if found != 1 {
		return nil, fmt.Errorf("post-render: found %d churn Deployments in the chart, want 1", found)
	}
	return &out, nil
}

func isChurnDeployment(obj map[string]any) bool {
	if obj["kind"] != "Deployment" {
		return false
	}
	md, _ := obj["metadata"].(map[string]any)
	labels, _ := md["labels"].(map[string]any)
	return labels[componentLabel] == componentChurn
}

// Chart component labels.
const (
	componentLabel  = "app.kubernetes.io/component"
	componentChurn  = "churn"
	componentClient = "client"
)
