package k3d

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
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

func (d *fakeDockerd) listContainers(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := filterArgs(r)
	out := []container.Summary{}
	for _, c := range d.ctrs {
		if !matchFilters(f, "/"+c.Name, c.ID, c.Config.Labels) {
			continue
		}
		state := "created"
		if c.Running {
			state = "running"
		}
		out = append(out, container.Summary{ID: c.ID, Names: []string{"/" + c.Name}, Image: c.Config.Image, Labels: c.Config.Labels, State: state, Created: c.Created.Unix()})
	}
	writeJSON(w, 200, out)
}

func (d *fakeDockerd) createContainer(w http.ResponseWriter, r *http.Request) {
	var req container.CreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	name := r.URL.Query().Get("name")
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.find(name) != nil {
		writeJSON(w, http.StatusConflict, map[string]string{"message": fmt.Sprintf("Conflict. The container name \"/%s\" is already in use", name)})
		return
	}
	c := &fdContainer{ID: d.id(), Name: name, Created: time.Now().UTC(), Files: map[string][]byte{}}
	if req.Config != nil {
		c.Config = *req.Config
	}
	if req.HostConfig != nil {
		c.HostConfig = *req.HostConfig
	}
	if req.NetworkingConfig != nil {
		for n := range req.NetworkingConfig.EndpointsConfig {
			c.Networks = append(c.Networks, n)
		}
	}
	d.ctrs = append(d.ctrs, c)
	writeJSON(w, http.StatusCreated, container.CreateResponse{ID: c.ID})
}

func (d *fakeDockerd) inspectContainer(w http.ResponseWriter, ref string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.find(ref)
	if c == nil {
		notFound(w, "No such container: %s", ref)
		return
	}
	status, started := "created", "0001-01-01T00:00:00Z"
	if c.Running {
		status, started = "running", c.StartedAt.Format(time.RFC3339Nano)
	}
	hc := c.HostConfig
	ns := &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{}}
	for i, nn := range c.Networks {
		ep := &network.EndpointSettings{}
		if n := d.findNetwork(nn); n != nil && c.Running {
			ep.IPAddress = d.ip(n, slices.Index(d.ctrs, c))
		}
		_ = i
		ns.Networks[nn] = ep
	}
	cfg := c.Config
	writeJSON(w, 200, container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: c.ID, Name: "/" + c.Name, Created: c.Created.Format(time.RFC3339Nano), Image: cfg.Image,
			State: &container.State{Status: status, Running: c.Running, StartedAt: started}, HostConfig: &hc},
		Config: &cfg, NetworkSettings: ns,
	})
}

func (d *fakeDockerd) startContainer(w http.ResponseWriter, ref string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.find(ref)
	if c == nil {
		notFound(w, "No such container: %s", ref)
		return
	}
	if !c.Running {
		c.Running, c.StartedAt = true, time.Now().UTC()
	}
	w.WriteHeader(http.StatusNoContent)
}

// logs writes the container's lines as the daemon's multiplexed stream
// (non-TTY containers) and ends it, where the daemon would follow.
func (d *fakeDockerd) logs(w http.ResponseWriter, ref string) {
	d.mu.Lock()
	c := d.find(ref)
	var lines []string
	if c != nil {
		lines = slices.Clone(c.LogLines)
	}
	d.mu.Unlock()
	if c == nil {
		notFound(w, "No such container: %s", ref)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
	w.WriteHeader(200)
	for _, l := range lines {
		payload := []byte(l + "\n")
		hdr := make([]byte, 8)
		hdr[0] = 2 // stderr, where k3s logs
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(payload)))
		w.Write(hdr)
		w.Write(payload)
	}
}

func (d *fakeDockerd) putArchive(w http.ResponseWriter, r *http.Request, ref string) {
	dir := r.URL.Query().Get("path")
	files := map[string][]byte{}
	tr := tar.NewReader(r.Body)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(tr)
		files[path.Join(dir, h.Name)] = b
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.find(ref)
	if c == nil {
		notFound(w, "No such container: %s", ref)
		return
	}
	for p, b := range files {
		c.Files[p] = b
	}
	w.WriteHeader(200)
}

func (d *fakeDockerd) getArchive(w http.ResponseWriter, r *http.Request, ref string) {
	p := r.URL.Query().Get("path")
	d.mu.Lock()
	c := d.find(ref)
	var b []byte
	ok := false
	if c != nil {
		b, ok = c.Files[p]
	}
	d.mu.Unlock()
	if !ok {
		notFound(w, "Could not find the file %s in container %s", p, ref)
		return
	}
	stat, _ := json.Marshal(container.PathStat{Name: path.Base(p), Size: int64(len(b)), Mode: 0o644, Mtime: time.Now()})
	w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(stat))
	w.Header().Set("Content-Type", "application/x-tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: path.Base(p), Mode: 0o644, Size: int64(len(b))})
	tw.Write(b)
	tw.Close()
	w.Write(buf.Bytes())
}

func (d *fakeDockerd) createExec(w http.ResponseWriter, r *http.Request, ref string) {
	var opts container.ExecOptions
	json.NewDecoder(r.Body).Decode(&opts)
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.find(ref)
	if c == nil {
		notFound(w, "No such container: %s", ref)
		return
	}
	if !c.Running {
		writeJSON(w, http.StatusConflict, map[string]string{"message": fmt.Sprintf("container %s is not running", c.ID)})
		return
	}
	id := d.id()
	d.execs[id] = opts.Cmd
	d.Execs = append(d.Execs, c.Name+": "+strings.Join(opts.Cmd, " "))
	writeJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: id})
}

// startExec upgrades the connection as the daemon does for an attached
// exec, and ends the (empty) output at once.
func (d *fakeDockerd) startExec(w http.ResponseWriter, r *http.Request) {
	// Read the request (ExecStartOptions) first: the client writes it
	// after the headers, and a connection closed under it fails the write.
	io.Copy(io.Discard, r.Body)
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		d.t.Errorf("hijack: %v", err)
		return
	}
	defer conn.Close()
	buf.WriteString("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	buf.Flush()
}
