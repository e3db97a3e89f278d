package k3d

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"
)

// fakeDockerd is a Docker Engine API server on a unix socket, for tests of
// the SDK's real Docker runtime (runtimes.Docker) where it matters how that
// runtime and the Docker client behave: their error types, their waits on
// logs, their execs. It keeps containers, networks and volumes in memory
// and answers the calls the SDK makes for GatherEnvironmentInfo,
// ClusterGet, ClusterStart and the network calls of down; any other call
// fails the test. Nothing runs in a container: a started container prints
// the log lines it was given and an exec succeeds.
type fakeDockerd struct {
	t        *testing.T
	mu       sync.Mutex
	seq      int
	ctrs     []*fdContainer
	networks []*network.Inspect
	volumes  map[string]map[string]string
	execs    map[string][]string // exec ID -> command
	// Calls lists the API calls as "METHOD /path" (version prefix cut).
	Calls []string
	// Execs lists the commands run in containers, as "container: cmd".
	Execs []string
}

type fdContainer struct {
	ID, Name   string // Name without the leading '/'
	Config     container.Config
	HostConfig container.HostConfig
	Networks   []string
	Created    time.Time
	Running    bool
	StartedAt  time.Time
	Files      map[string][]byte
	// LogLines are printed at each start, stamped with the start time.
	LogLines []string
}

var versionPrefix = regexp.MustCompile(`^/v1\.[0-9]+`)

// startFakeDockerd serves a fake daemon and points the Docker client at it
// (DOCKER_HOST; DOCKER_CONFIG empty so no user context applies).
func startFakeDockerd(t *testing.T) *fakeDockerd {
	d := &fakeDockerd{t: t, volumes: map[string]map[string]string{}, execs: map[string][]string{}}
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: d}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("DOCKER_CONTEXT", "")
	return d
}

func (d *fakeDockerd) id() string {
	d.seq++
	return fmt.Sprintf("%064x", d.seq)
}

// AddNetwork adds a bridge network with a /16 subnet and its gateway.
func (d *fakeDockerd) AddNetwork(name string, labels map[string]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(d.networks) + 20
	d.networks = append(d.networks, &network.Inspect{Name: name, ID: d.id(), Driver: "bridge", Labels: labels,
		IPAM: network.IPAM{Config: []network.IPAMConfig{{Subnet: fmt.Sprintf("172.%d.0.0/16", n), Gateway: fmt.Sprintf("172.%d.0.1", n)}}}})
}

// Container returns the container named name (nil = none).
func (d *fakeDockerd) Container(name string) *fdContainer {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.find(name)
}

func (d *fakeDockerd) find(ref string) *fdContainer {
	ref = strings.TrimPrefix(ref, "/")
	for _, c := range d.ctrs {
		if c.ID == ref || c.Name == ref || (len(ref) >= 12 && strings.HasPrefix(c.ID, ref)) {
			return c
		}
	}
	return nil
}

func (d *fakeDockerd) findNetwork(ref string) *network.Inspect {
	for _, n := range d.networks {
		if n.ID == ref || n.Name == ref {
			return n
		}
	}
	return nil
}

// notFound answers as the daemon does for a missing object (HTTP 404 with
// a JSON message, which the client turns into a NotFound error).
func notFound(w http.ResponseWriter, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	json.NewEncoder(w).Encode(map[string]string{"message": fmt.Sprintf(format, args...)})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// filterArgs decodes the filters parameter: {"label":{"k=v":true},...}.
func filterArgs(r *http.Request) map[string][]string {
	out := map[string][]string{}
	var raw map[string]map[string]bool
	if f := r.URL.Query().Get("filters"); f != "" {
		json.Unmarshal([]byte(f), &raw)
	}
	for k, vs := range raw {
		for v := range vs {
			out[k] = append(out[k], v)
		}
	}
	return out
}

// matchFilters applies Docker's label (k or k=v) and name/id (regexp)
// filters.
func matchFilters(f map[string][]string, name, id string, labels map[string]string) bool {
	for _, l := range f["label"] {
		k, v, hasV := strings.Cut(l, "=")
		if have, ok := labels[k]; !ok || (hasV && have != v) {
			return false
		}
	}
	for _, key := range []string{"name", "id"} {
		subject := name
		if key == "id" {
			subject = id
		}
		for _, re := range f[key] {
			if ok, _ := regexp.MatchString(re, subject); !ok {
				return false
			}
		}
	}
	return true
}

func (d *fakeDockerd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := versionPrefix.ReplaceAllString(r.URL.Path, "")
	d.mu.Lock()
	d.Calls = append(d.Calls, r.Method+" "+p)
	d.mu.Unlock()
	parts := strings.Split(strings.Trim(p, "/"), "/")
	route := r.Method + " " + parts[0]
	switch {
	case len(parts) > 2:
		route += " * " + parts[2]
	case len(parts) == 2 && (parts[1] == "json" || parts[1] == "create"):
		route += " " + parts[1]
	case len(parts) == 2:
		route += " *"
	}
	arg := ""
	if len(parts) > 1 {
		arg = parts[1]
	}
	switch route {
	case "GET _ping", "HEAD _ping":
		w.Header().Set("Api-Version", "1.47")
		w.Header().Set("Ostype", "linux")
		io.WriteString(w, "OK")
	case "GET info":
		writeJSON(w, 200, system.Info{ID: "fake", Name: "fakedockerd", ServerVersion: "28.5.2", OperatingSystem: "Debian GNU/Linux 13", OSType: "linux", Architecture: "x86_64", CgroupVersion: "2", CgroupDriver: "systemd"})
	case "GET containers json":
		d.listContainers(w, r)
	case "POST containers create":
		d.createContainer(w, r)
	case "GET containers * json":
		d.inspectContainer(w, arg)
	case "POST containers * start":
		d.startContainer(w, arg)
	case "DELETE containers *":
		d.mu.Lock()
		c := d.find(arg)
		if c != nil {
			d.ctrs = slices.DeleteFunc(d.ctrs, func(x *fdContainer) bool { return x == c })
		}
		d.mu.Unlock()
		if c == nil {
			notFound(w, "No such container: %s", arg)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case "GET containers * logs":
		d.logs(w, arg)
	case "PUT containers * archive":
		d.putArchive(w, r, arg)
	case "GET containers * archive":
		d.getArchive(w, r, arg)
	case "POST containers * exec":
		d.createExec(w, r, arg)
	case "POST exec * start":
		d.startExec(w, r)
	case "GET exec * json":
		writeJSON(w, 200, container.ExecInspect{ExecID: arg, Running: false, ExitCode: 0})
	case "GET networks":
		d.mu.Lock()
		f := filterArgs(r)
		out := []network.Inspect{}
		for _, n := range d.networks {
			if matchFilters(f, n.Name, n.ID, n.Labels) {
				out = append(out, *n)
			}
		}
		d.mu.Unlock()
		writeJSON(w, 200, out)
	case "GET networks *":
		d.mu.Lock()
		n := d.findNetwork(arg)
		var out network.Inspect
		if n != nil {
			out = *n
			out.Containers = map[string]network.EndpointResource{}
			for i, c := range d.ctrs {
				if c.Running && slices.Contains(c.Networks, n.Name) {
					out.Containers[c.ID] = network.EndpointResource{Name: c.Name, IPv4Address: fmt.Sprintf("%s/16", d.ip(n, i))}
				}
			}
		}
		d.mu.Unlock()
		if n == nil {
			notFound(w, "network %s not found", arg)
			return
		}
		writeJSON(w, 200, out)
	case "DELETE networks *":
		d.mu.Lock()
		n := d.findNetwork(arg)
		if n != nil {
			d.networks = slices.DeleteFunc(d.networks, func(x *network.Inspect) bool { return x == n })
		}
		d.mu.Unlock()
		if n == nil {
			notFound(w, "network %s not found", arg)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case "GET volumes":
		d.mu.Lock()
		f := filterArgs(r)
		out := volume.ListResponse{Volumes: []*volume.Volume{}}
		for name, labels := range d.volumes {
			if matchFilters(f, name, name, labels) {
				out.Volumes = append(out.Volumes, &volume.Volume{Name: name, Driver: "local", Labels: labels})
			}
		}
		d.mu.Unlock()
		writeJSON(w, 200, out)
	case "DELETE volumes *":
		d.mu.Lock()
		delete(d.volumes, arg)
		d.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		d.t.Errorf("fake dockerd: unexpected call %s %s", r.Method, r.URL)
		http.Error(w, `{"message":"not implemented by the fake"}`, http.StatusNotImplemented)
	}
}

// ip is container i's address on network n.
func (d *fakeDockerd) ip(n *network.Inspect, i int) string {
	prefix, _, _ := strings.Cut(n.IPAM.Config[0].Subnet, ".0.0/")
	return fmt.Sprintf("%s.0.%d", prefix, i+2)
}
