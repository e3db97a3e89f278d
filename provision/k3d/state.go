package k3d

import (
	"strings"

	"github.com/dstload/dstload/provision"
)

// data is the provider's record in State.ProviderData.
type data struct {
	Network string `json:"network"`
	// NetworkCreated is true when the network did not exist at the first
	// `up`, so k3d creates it for this environment and Delete removes it
	// once no container uses it. It is recorded before the create, so it
	// may name a network that was never made (a create that failed first):
	// Delete then has nothing to remove.
	NetworkCreated bool         `json:"networkCreated,omitempty"`
	Clusters       []clusterRec `json:"clusters,omitempty"`
	Nodes          int          `json:"nodes"`
	K3sImage       string       `json:"k3sImage"`
}

// clusterRec is recorded before the SDK is called, so that an interrupted
// create is cleaned up by Delete.
type clusterRec struct {
	Name        string `json:"name"`
	APIHostPort int    `json:"apiHostPort"`
	// WorkloadImage is the dstload image imported into this cluster ("" =
	// none). It is per cluster: a cluster made again by `up` (or a second
	// one) starts without it.
	WorkloadImage string `json:"workloadImage,omitempty"`
}

func loadData(st *provision.State) (*data, error) {
	return provision.LoadProviderData[data](st, "k3d")
}

func storeData(st *provision.State, d *data) error { return provision.StoreProviderData(st, d) }

func (d *data) cluster(name string) *clusterRec {
	for i := range d.Clusters {
		if d.Clusters[i].Name == name {
			return &d.Clusters[i]
		}
	}
	return nil
}

// WorkloadImage returns the dstload image imported into cluster ("" = the
// first) of st, split for the chart's image.repository and image.tag; ok is
// false when none was imported there (then the chart's published image is
// used).
func WorkloadImage(st *provision.State, cluster string) (repository, tag string, ok bool) {
	d, err := loadData(st)
	if err != nil || len(d.Clusters) == 0 {
		return "", "", false
	}
	rec := &d.Clusters[0]
	if cluster != "" {
		if rec = d.cluster(cluster); rec == nil {
			return "", "", false
		}
	}
	i := strings.LastIndex(rec.WorkloadImage, ":")
	if rec.WorkloadImage == "" || i < 0 {
		return "", "", false
	}
	return rec.WorkloadImage[:i], rec.WorkloadImage[i+1:], true
}
