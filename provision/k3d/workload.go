package k3d

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/k3d-io/k3d/v5/pkg/client"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/image"
	"github.com/dstload/dstload/version"
)

// imagesDir holds the image tarballs in the state dir.
const imagesDir = "images"

// importWorkloadImage assembles the dstload image from a linux dstload
// binary (the running one by default; a dynamically linked one brings its
// libraries) and imports it into every cluster, so the chart's churn and
// client pods need no registry. When the binary cannot go into an image
// (not a linux binary, e.g. on macOS), up still succeeds and says so: the
// chart then uses the published image.
func (p *Provider) importWorkloadImage(ctx context.Context, env provision.Env, st *provision.State, d *data, save provision.SaveFunc) error {
	bin := p.opts.WorkloadBinary
	if bin == "" {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the dstload binary for the workload image: %w", err)
		}
		bin = self
	}
	built, err := image.Build(image.Options{Binary: bin, Version: version.Get().Version})
	var ns *image.UnsupportedBinaryError
	if errors.As(err, &ns) {
		env.Progressf("workload image not imported: %v", err)
		env.Log.Warn("workload image not imported; the chart will pull its published image", "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("workload image: %w", err)
	}
	ref := built.Tag.String()
	var todo []*clusterRec
	for i := range d.Clusters {
		if d.Clusters[i].WorkloadImage != ref {
			todo = append(todo, &d.Clusters[i])
		}
	}
	if len(todo) == 0 {
		return nil // this very image is in every cluster already
	}
	dir := filepath.Join(env.Dir, imagesDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	// The SDK treats an argument that is an existing file as a tarball.
	tarPath := filepath.Join(dir, "dstload-"+built.Tag.TagStr()+".tar")
	if err := image.WriteTarball(built, tarPath); err != nil {
		return err
	}
	for _, rec := range todo {
		env.Progressf("importing workload image %s into %s", ref, rec.Name)
		c, err := client.ClusterGet(ctx, p.opts.Runtime, &k3dtypes.Cluster{Name: rec.Name})
		if err != nil {
			return fmt.Errorf("import workload image into %s: %w", rec.Name, err)
		}
		// Direct mode streams the tarball into `ctr image import` on each
		// node and returns its errors; the tools-node mode (the CLI's
		// default) only logs failed node imports.
		if err := client.ImageImportIntoClusterMulti(ctx, p.opts.Runtime, []string{tarPath}, c, k3dtypes.ImageImportOpts{Mode: k3dtypes.ImportModeDirect}); err != nil {
			return fmt.Errorf("import workload image into %s: %w", rec.Name, err)
		}
		rec.WorkloadImage = ref
		if c := st.Cluster(rec.Name); c != nil && c.Name == rec.Name {
			c.WorkloadImage = ref
		}
		if err := storeData(st, d); err != nil {
			return err
		}
		if err := save(st); err != nil {
			return err
		}
	}
	// Only the newest image is kept on disk.
	old, _ := filepath.Glob(filepath.Join(dir, "dstload-*.tar"))
	for _, f := range old {
		if f != tarPath {
			os.Remove(f)
		}
	}
	return nil
}
