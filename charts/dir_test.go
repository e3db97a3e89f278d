package charts

import (
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// loadDir loads the chart the way `helm install ./charts/dst-load-test`
// would: from the source directory, honouring .helmignore.
func loadDir(t *testing.T) (*chart.Chart, error) {
	t.Helper()
	return loader.LoadDir(DstLoadTestName)
}
