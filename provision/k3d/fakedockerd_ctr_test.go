package k3d

// The container and exec calls of the fake Docker daemon (fakedockerd_test.go).

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
)

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
	for _, nn := range c.Networks {
		ep := &network.EndpointSettings{}
		if n := d.findNetwork(nn); n != nil && c.Running {
			ep.IPAddress = d.ip(n, slices.Index(d.ctrs, c))
		}
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
