package k3d

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/dstload/dstload/provision"
)

// execRecorder adds the exec calls of the direct image import to the fake
// runtime: it keeps what each node's `ctr image import` read from stdin.
type execRecorder struct {
	*fakeRuntime
	execs  [][]string
	stdins [][]byte
}

func (e *execRecorder) ExecInNodeWithStdin(_ context.Context, n *k3dtypes.Node, cmd []string, stdin io.ReadCloser) error {
	// Like ctr behind a docker exec: read the archive to its end marker and
	// exit. The SDK never closes the pipe, so waiting for EOF would hang;
	// what follows the archive is drained, as Docker's copy goroutine does.
	var buf bytes.Buffer
	tr := tar.NewReader(io.TeeReader(stdin, &buf))
	for {
		_, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	go io.Copy(io.Discard, stdin)
	b := buf.Bytes()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.execs = append(e.execs, append([]string{n.Name}, cmd...))
	e.stdins = append(e.stdins, b)
	return nil
}

func staticBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module tiny\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tiny")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// The image reaches every k3s node of every cluster through the SDK's
// direct import (`ctr image import` reading the tarball), is recorded for
// the chart, and is not imported again when nothing changed.
func TestImportWorkloadImage(t *testing.T) {
	rt := &execRecorder{fakeRuntime: newFakeRuntime()}
	for _, c := range []string{"dstload", "dstload-2"} {
		rt.nodes = append(rt.nodes,
			&k3dtypes.Node{Name: "k3d-" + c + "-server-0", Role: k3dtypes.ServerRole, RuntimeLabels: map[string]string{k3dtypes.LabelClusterName: c, k3dtypes.LabelRole: string(k3dtypes.ServerRole)}},
			// Auxiliary containers get no image.
			&k3dtypes.Node{Name: "k3d-" + c + "-tools", Role: k3dtypes.NoRole, RuntimeLabels: map[string]string{k3dtypes.LabelClusterName: c}},
		)
	}
	env := testEnv(t)
	p := New(Options{Runtime: rt, WorkloadBinary: staticBinary(t)})
	st := &provision.State{Name: "dstload", Provider: ProviderName}
	d := &data{Clusters: []clusterRec{{Name: "dstload"}, {Name: "dstload-2"}}}
	save := func(*provision.State) error { return nil }

	if err := p.importWorkloadImage(context.Background(), env, st, d, save); err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for _, e := range rt.execs {
		nodes = append(nodes, e[0])
		if got := strings.Join(e[1:], " "); got != "ctr image import --all-platforms -" {
			t.Errorf("node %s ran %q", e[0], got)
		}
	}
	slices.Sort(nodes)
	if want := []string{"k3d-dstload-2-server-0", "k3d-dstload-server-0"}; !slices.Equal(nodes, want) {
		t.Fatalf("imported into %v, want %v", nodes, want)
	}
	repo, tag, ok := WorkloadImage(st, "")
	if !ok || repo != "dstload.local/dstload" || tag == "" {
		t.Fatalf("recorded image %q:%q %v", repo, tag, ok)
	}
	// What ctr read is a docker-archive holding that tag.
	ref, err := name.NewTag(repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	data := rt.stdins[0]
	img, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, &ref)
	if err != nil {
		t.Fatalf("the imported stream is not a tarball of %s: %v", ref, err)
	}
	if cf, err := img.ConfigFile(); err != nil || cf.Config.User != "65532:65532" {
		t.Errorf("imported image config %+v, %v", cf, err)
	}
	if tars, _ := filepath.Glob(filepath.Join(env.Dir, imagesDir, "*.tar")); len(tars) != 1 {
		t.Errorf("image tarballs kept: %v", tars)
	}

	// Same binary again: nothing to do.
	rt.execs = nil
	if err := p.importWorkloadImage(context.Background(), env, st, d, save); err != nil {
		t.Fatal(err)
	}
	if len(rt.execs) != 0 {
		t.Errorf("re-imported an image the clusters have: %v", rt.execs)
	}
}

// A binary that cannot go into the image (here: not an ELF file, as a
// macOS dstload would be) does not fail `up`; nothing is imported and
// nothing recorded.
func TestImportSkipsUnusableBinary(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "dstload")
	if err := os.WriteFile(notELF, []byte("\xcf\xfa\xed\xfe Mach-O"), 0o755); err != nil {
		t.Fatal(err)
	}
	rt := &execRecorder{fakeRuntime: newFakeRuntime()}
	p := New(Options{Runtime: rt, WorkloadBinary: notELF})
	st := &provision.State{}
	var progress bytes.Buffer
	env := testEnv(t)
	env.Progress = &progress
	if err := p.importWorkloadImage(context.Background(), env, st, &data{Clusters: []clusterRec{{Name: "dstload"}}}, func(*provision.State) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := WorkloadImage(st, ""); ok || len(rt.execs) != 0 {
		t.Errorf("imported or recorded an unusable binary: %v", rt.execs)
	}
	if !strings.Contains(progress.String(), "workload image not imported") {
		t.Errorf("progress %q does not say why", progress.String())
	}
}

// The image is recorded per cluster: a cluster that up makes again (after
// it was removed) or a cluster added later gets it although the others
// have it already; a failed re-creation forgets the old cluster's import.
func TestWorkloadImagePerCluster(t *testing.T) {
	rt := &execRecorder{fakeRuntime: newFakeRuntime()}
	for _, c := range []string{"dstload", "dstload-2"} {
		rt.nodes = append(rt.nodes, &k3dtypes.Node{Name: "k3d-" + c + "-server-0", Role: k3dtypes.ServerRole,
			RuntimeLabels: map[string]string{k3dtypes.LabelClusterName: c, k3dtypes.LabelRole: string(k3dtypes.ServerRole)}})
	}
	env := testEnv(t)
	p := New(Options{Runtime: rt, WorkloadBinary: staticBinary(t)})
	st := &provision.State{Name: "dstload", Provider: ProviderName}
	d := &data{Clusters: []clusterRec{{Name: "dstload"}}}
	if err := p.importWorkloadImage(context.Background(), env, st, d, nopSave); err != nil {
		t.Fatal(err)
	}
	ref := d.Clusters[0].WorkloadImage
	// A second cluster joins (--clusters 2 on a later up).
	d.Clusters = append(d.Clusters, clusterRec{Name: "dstload-2"})
	rt.execs = nil
	if err := p.importWorkloadImage(context.Background(), env, st, d, nopSave); err != nil {
		t.Fatal(err)
	}
	if len(rt.execs) != 1 || rt.execs[0][0] != "k3d-dstload-2-server-0" {
		t.Fatalf("imports %v, want only into the new cluster", rt.execs)
	}
	for _, c := range []string{"dstload", "dstload-2"} {
		if repo, tag, ok := WorkloadImage(st, c); !ok || repo+":"+tag != ref {
			t.Errorf("cluster %s: image %q:%q %v, want %s", c, repo, tag, ok, ref)
		}
	}

	// The first cluster is gone; up makes it again (here it fails) and its
	// record no longer claims the image.
	rt.nodes = slices.DeleteFunc(rt.nodes, func(n *k3dtypes.Node) bool { return n.Name == "k3d-dstload-server-0" })
	rt.failNode = "-server-0"
	if err := storeData(st, d); err != nil {
		t.Fatal(err)
	}
	c := New(Options{Runtime: rt.fakeRuntime, NoWorkloadImage: true})
	if err := c.Create(context.Background(), env, st, nopSave); err == nil {
		t.Fatal("create succeeded on a fake that fails")
	}
	if _, _, ok := WorkloadImage(st, "dstload"); ok {
		t.Error("a re-created cluster is recorded with the image of the one it replaced")
	}
	if _, _, ok := WorkloadImage(st, "dstload-2"); !ok {
		t.Error("the other cluster lost its image record")
	}
}
