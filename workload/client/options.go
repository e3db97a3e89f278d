// Package client opens many Destination.Get streams the way Linkerd proxies
// do and measures what each stream receives.
//
// Cost model (one process must hold 10,000 streams): each stream is one
// goroutine blocked in Recv (grpc-go adds one more per stream to watch its
// context) and a small struct; the endpoint set is a map of packed IPv4
// address+port keys allocated on the first Add. Streams share one or a few
// HTTP/2 connections. Receipts are kept only for sampled streams, in a
// compact form turned into records when collected.
package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
)

// Default reconnect backoff bounds.
const (
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = 10 * time.Second
)

// Service is one target service port.
type Service struct {
	Namespace string
	Name      string
	Port      uint32
}

// Key is "namespace/name", the service's name in records.
func (s Service) Key() string { return s.Namespace + "/" + s.Name }

// ContextToken is what a proxy sends as GetDestination.context_token
// (LINKERD2_PROXY_DESTINATION_CONTEXT).
type ContextToken struct {
	NS       string `json:"ns"`
	NodeName string `json:"nodeName"`
	Pod      string `json:"pod"`
}

// String renders the token's JSON.
func (t ContextToken) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

// Options configure a Client.
type Options struct {
	// Name identifies this client in records (e.g. its pod name); names
	// must differ between the clients of one run.
	Name string
	// Addr is the destination service's gRPC address (host:port).
	Addr     string
	Services []Service
	// QuerySuffix, when set, is appended to every service name asked for,
	// while records keep the name: the mirror Services of a linked cluster
	// (<name>-<target>), whose endpoints are the target's <name>.
	QuerySuffix string
	// StreamsPerService is N, the concurrent Get streams per service.
	StreamsPerService int
	// Connections is how many HTTP/2 connections the streams share.
	Connections int
	Token       ContextToken
	// ClusterDomain completes the authority (default cluster.local).
	ClusterDomain string
	// Lifetime, when > 0, ends and renews each stream after Lifetime plus
	// a random share of LifetimeJitter.
	Lifetime       time.Duration
	LifetimeJitter time.Duration
	// BackoffMin/BackoffMax bound the reconnect backoff (doubling, with
	// jitter); the backoff resets once a stream received an update.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// SampleStreams is how many streams record receipts (0 = none,
	// negative = all).
	SampleStreams int
	// OnReceive, when set, is called after each update was applied, with
	// the message as received (a destination.Update in protobuf) and the
	// time the client recorded for it (benchmarks use it to measure what
	// the instrument adds). It runs on the stream's goroutine.
	OnReceive func(stream uint32, raw []byte, at time.Time)
	// DialOptions are added to the gRPC connections (default: plaintext).
	DialOptions []grpc.DialOption
}

// Validate checks o and fills defaults, returning one clear error.
func (o *Options) Validate() error {
	if err := o.ValidateLoad(); err != nil {
		return err
	}
	switch {
	case o.Name == "":
		return errors.New("client name is empty: set --client-name or POD_NAME")
	case o.Addr == "":
		return errors.New("no destination address: set --destination host:port")
	case len(o.Services) == 0:
		return errors.New("no services: list them or give a selector that matches some")
	}
	// A stream keeps its service's index in 16 bits (thousands of streams
	// stay small); more services would be misattributed silently.
	if len(o.Services) > 1<<16 {
		return fmt.Errorf("%d services is more than one client can hold (at most %d); split them over several clients", len(o.Services), 1<<16)
	}
	total := len(o.Services) * o.StreamsPerService
	if total > 1<<24 {
		return fmt.Errorf("%d streams is more than one process can hold; split them over several clients", total)
	}
	seen := map[string]bool{}
	for _, s := range o.Services {
		if s.Namespace == "" || s.Name == "" || s.Port == 0 || s.Port > 65535 {
			return fmt.Errorf("invalid service %q in namespace %q port %d", s.Name, s.Namespace, s.Port)
		}
		k := s.Key()
		if seen[k] {
			return fmt.Errorf("service %s listed twice: records name services without ports", k)
		}
		seen[k] = true
	}
	return nil
}

// ValidateLoad checks the settings that do not depend on the services
// (stream counts, durations), so a command can reject bad flags before it
// talks to any server, and fills their defaults.
func (o *Options) ValidateLoad() error {
	if o.ClusterDomain == "" {
		o.ClusterDomain = "cluster.local"
	}
	if o.Connections == 0 {
		o.Connections = 1
	}
	if o.BackoffMin == 0 {
		o.BackoffMin = DefaultBackoffMin
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	switch {
	case o.StreamsPerService <= 0:
		return fmt.Errorf("streams per service must be at least 1, got %d", o.StreamsPerService)
	case o.Connections < 0:
		return fmt.Errorf("connections must be at least 1, got %d", o.Connections)
	case o.Lifetime < 0 || o.LifetimeJitter < 0:
		return errors.New("stream lifetime and its jitter must not be negative")
	case o.LifetimeJitter > 0 && o.Lifetime == 0:
		return errors.New("lifetime jitter needs a stream lifetime")
	case o.BackoffMin < 0 || o.BackoffMax < o.BackoffMin:
		return fmt.Errorf("backoff must satisfy 0 <= min <= max, got min %s max %s", o.BackoffMin, o.BackoffMax)
	}
	return nil
}
