package charts

import "io/fs"

// DashboardFile is the destination dashboard inside the workload chart.
const DashboardFile = DstLoadTestName + "/dashboards/destination.json"

// Dashboard returns the Grafana dashboard for a destination controller
// under load (the JSON the chart ships as a ConfigMap).
func Dashboard() ([]byte, error) { return fs.ReadFile(files, DashboardFile) }
