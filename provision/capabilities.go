package provision

import "errors"

// Capabilities are what an environment's clusters can do. The provider
// states them (Provider.Info), Up records them in the state, and the run
// path and the stack read them there instead of asking which provider made
// the environment.
type Capabilities struct {
	// PodsRun says a kubelet runs the pods' containers. It is false on the
	// local provider, whose nodes are all KWOK fakes: no pod runs, KWOK is
	// a host process, and `dstload run` runs the workload inside dstload
	// against a destination controller on the host.
	PodsRun bool `json:"podsRun"`
	// ClockSource says whose clocks time a run's records; reports carry it.
	ClockSource string `json:"clockSource,omitempty"`
	// DestinationHint says how to add a destination controller to an
	// environment that has none. It is set by the providers that run the
	// controller themselves (DestinationRunner), and only by them.
	DestinationHint string `json:"destinationHint,omitempty"`
}

// capabilities returns what st records, or (a state written before
// capabilities were recorded) what p states now.
func capabilities(p Provider, st *State) Capabilities {
	if st.Capabilities != nil {
		return *st.Capabilities
	}
	return p.Info()
}

// Capabilities returns the capabilities of the environment st records:
// those Up recorded, else those its provider states.
func (r *Registry) Capabilities(st *State) (Capabilities, error) {
	if st.Capabilities != nil {
		return *st.Capabilities, nil
	}
	p, err := r.New(st.Provider, Config{})
	if err != nil {
		return Capabilities{}, err
	}
	return p.Info(), nil
}

// Info returns what the named provider states (built from a zero Config).
func (r *Registry) Info(name string) (Capabilities, error) {
	p, err := r.New(name, Config{})
	if err != nil {
		return Capabilities{}, err
	}
	return p.Info(), nil
}

// A usage error is bad input the user fixes by changing it (a flag, a name,
// a file, a port): `dstload` exits 2 for it. The errors of this package and
// of the providers that are such mark themselves with a Usage method.
type usage interface{ Usage() }

// IsUsage reports whether err, or an error it wraps, is bad input.
func IsUsage(err error) bool {
	var u usage
	return errors.As(err, &u)
}

// usageError marks a sentinel error as bad input.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Usage()        {}
