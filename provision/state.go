package provision

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// StateFileName is the state file inside the environment directory.
const StateFileName = "state.json"

// stateVersion is bumped when the file's meaning changes incompatibly.
const stateVersion = 1

// Phases of an environment.
const (
	PhaseCreating = "creating" // Up started and has not finished (or was interrupted)
	PhaseReady    = "ready"    // Up finished
	PhaseDeleting = "deleting" // Down started and has not finished
)

// State records what an environment's Up created, so that Down removes
// exactly that and Status can check it. It is JSON in <envDir>/state.json.
type State struct {
	Version   int       `json:"version"`
	Name      string    `json:"name"`
	Provider  string    `json:"provider"`
	Phase     string    `json:"phase"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// TrustRootDir holds the Linkerd trust anchor and issuer (certs package).
	TrustRootDir string `json:"trustRootDir,omitempty"`
	// TrustRootCreated is true when Up generated the trust root (Down then
	// removes it; one made beforehand is kept).
	TrustRootCreated bool      `json:"trustRootCreated,omitempty"`
	Clusters         []Cluster `json:"clusters,omitempty"`
	// Capabilities are what the provider stated at Up (Provider.Info).
	Capabilities *Capabilities `json:"capabilities,omitempty"`
	// Processes are the host processes the environment supervises (local
	// provider), in start order.
	Processes []Process `json:"processes,omitempty"`
	// ProviderData is provider-specific (e.g. k3d cluster and network
	// names); only the provider reads it.
	ProviderData json.RawMessage `json:"providerData,omitempty"`
	// StackData is the stack hook's own record (e.g. Helm releases).
	StackData json.RawMessage `json:"stackData,omitempty"`
}

// Cluster is one Kubernetes cluster of the environment.
type Cluster struct {
	Name       string `json:"name"`
	Kubeconfig string `json:"kubeconfig"`
	Context    string `json:"context"`
	Server     string `json:"server,omitempty"`
	// LinkServer is the API server address another cluster's controllers
	// reach, where it is not Server (k3d: the server container on the
	// shared Docker network); a link's kubeconfig names it.
	LinkServer string `json:"linkServer,omitempty"`
	// DestinationAddr is the gRPC address (host:port) of the destination
	// controller serving this cluster, when one reachable from the host is
	// known: a supervised process, --destination-addr, or a port-forward.
	DestinationAddr string `json:"destinationAddr,omitempty"`
	// DestinationAdminAddr serves the controller's /metrics and /ready.
	DestinationAdminAddr string `json:"destinationAdminAddr,omitempty"`
	// DestinationSource says where the destination came from: "process",
	// "external" or "" (none).
	DestinationSource string `json:"destinationSource,omitempty"`
	// DestinationBin and DestinationArgs are the supervised controller's
	// binary and the extra flags it was given (--destination-arg); `up`
	// restarts it with exactly these when it died.
	DestinationBin  string   `json:"destinationBin,omitempty"`
	DestinationArgs []string `json:"destinationArgs,omitempty"`
	// WorkloadImage is the dstload image (repository:tag) imported into
	// the cluster for the chart's churn and client pods; "" = none (the
	// chart pulls its published image).
	WorkloadImage string `json:"workloadImage,omitempty"`
}

// Process is a supervised host process. PID alone is not an identity (PIDs
// are reused), so the start time and command line are recorded too.
type Process struct {
	Name    string `json:"name"`
	Cluster string `json:"cluster,omitempty"`
	PID     int    `json:"pid"`
	// StartTime is the process start time in clock ticks since boot
	// (/proc/<pid>/stat field 22).
	StartTime uint64   `json:"startTime"`
	Cmdline   []string `json:"cmdline"`
	// Addr is the main address the process serves.
	Addr  string         `json:"addr,omitempty"`
	Ports map[string]int `json:"ports,omitempty"`
	// HealthURL is polled for readiness and status (https uses the
	// cluster CA).
	HealthURL string `json:"healthURL,omitempty"`
	Log       string `json:"log,omitempty"`
}

// empty reports whether the state records nothing that was created.
func (s *State) empty() bool {
	return len(s.Processes) == 0 && len(s.Clusters) == 0 && len(s.ProviderData) == 0 && len(s.StackData) == 0
}

// Cluster returns the named cluster ("" = first) or nil.
func (s *State) Cluster(name string) *Cluster {
	for i := range s.Clusters {
		if name == "" || s.Clusters[i].Name == name {
			return &s.Clusters[i]
		}
	}
	return nil
}

// Process returns the named process of a cluster, or nil.
func (s *State) Process(cluster, name string) *Process {
	for i := range s.Processes {
		if s.Processes[i].Name == name && s.Processes[i].Cluster == cluster {
			return &s.Processes[i]
		}
	}
	return nil
}

// SetProcess records p, replacing an earlier record of the same name and
// cluster.
func (s *State) SetProcess(p Process) {
	if old := s.Process(p.Cluster, p.Name); old != nil {
		*old = p
		return
	}
	s.Processes = append(s.Processes, p)
}

// RemoveProcess drops the record of a process.
func (s *State) RemoveProcess(cluster, name string) {
	out := s.Processes[:0]
	for _, p := range s.Processes {
		if p.Name != name || p.Cluster != cluster {
			out = append(out, p)
		}
	}
	s.Processes = out
}

// SetCluster records c, replacing an earlier record of the same name.
func (s *State) SetCluster(c Cluster) {
	if old := s.Cluster(c.Name); old != nil && old.Name == c.Name {
		*old = c
		return
	}
	s.Clusters = append(s.Clusters, c)
}

// ErrNoState means the environment has no state file (nothing was created).
var ErrNoState = errors.New("no environment state")

// CorruptStateError is a state file that cannot be read as a state.
type CorruptStateError struct {
	Path string
	Err  error
}

func (e *CorruptStateError) Error() string {
	return fmt.Sprintf("state file %s is unreadable (%v); fix or remove it (processes it recorded are not stopped automatically)", e.Path, e.Err)
}

func (e *CorruptStateError) Unwrap() error { return e.Err }
func (e *CorruptStateError) Usage()        {}

// LoadState reads <envDir>/state.json. It returns ErrNoState when there is
// none and a *CorruptStateError when it is not a valid state.
func LoadState(envDir string) (*State, error) {
	path := filepath.Join(envDir, StateFileName)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoState
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, &CorruptStateError{Path: path, Err: err}
	}
	switch {
	case st.Version != stateVersion:
		return nil, &CorruptStateError{Path: path, Err: fmt.Errorf("version %d, this dstload reads version %d", st.Version, stateVersion)}
	case st.Provider == "":
		return nil, &CorruptStateError{Path: path, Err: errors.New("no provider recorded")}
	}
	for _, p := range st.Processes {
		if p.PID <= 0 || p.Name == "" {
			return nil, &CorruptStateError{Path: path, Err: fmt.Errorf("process record %q has no valid PID", p.Name)}
		}
	}
	return &st, nil
}

// SaveState writes st to <envDir>/state.json atomically (temporary file,
// fsync, rename) with mode 0600, so that a crash never leaves half a file.
func SaveState(envDir string, st *State) error {
	if err := os.MkdirAll(envDir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", envDir, err)
	}
	st.Version = stateVersion
	st.UpdatedAt = time.Now().UTC()
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	f, err := os.CreateTemp(envDir, ".state-*.json")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write state: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(envDir, StateFileName)); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// RemoveState deletes the state file.
func RemoveState(envDir string) error {
	err := os.Remove(filepath.Join(envDir, StateFileName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove state: %w", err)
	}
	return nil
}

// Lock holds an exclusive lock on an environment so that two dstload
// commands never change it at once. The kernel drops it when the process
// exits, so a killed dstload never leaves a stale lock.
type Lock struct{ f *os.File }

// ErrLocked means another dstload process holds the environment.
var ErrLocked error = &usageError{"another dstload command is working on this environment"}

// LockEnv takes the environment's lock without waiting.
func LockEnv(envDir string) (*Lock, error) {
	if err := os.MkdirAll(envDir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", envDir, err)
	}
	f, err := os.OpenFile(filepath.Join(envDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock environment: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", envDir, ErrLocked)
		}
		return nil, fmt.Errorf("lock environment: %w", err)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error { return l.f.Close() }

// LoadProviderData decodes a provider's own record (st.ProviderData) into a
// new T; an empty record gives T's zero value.
func LoadProviderData[T any](st *State, provider string) (*T, error) {
	v := new(T)
	if len(st.ProviderData) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(st.ProviderData, v); err != nil {
		return nil, fmt.Errorf("%s provider state: %w", provider, err)
	}
	return v, nil
}

// StoreProviderData records v as the provider's own record.
func StoreProviderData(st *State, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode provider state: %w", err)
	}
	st.ProviderData = raw
	return nil
}
