package local

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// pickPorts chooses the components' ports on 127.0.0.1 (apiPort, when not
// 0, is the user's choice for the apiserver).
func pickPorts(apiPort int) (map[string]int, error) {
	names := portNames
	ports := map[string]int{}
	if apiPort != 0 {
		if err := checkPortFree(apiPort); err != nil {
			return nil, fmt.Errorf("--api-port: %w; pick another or leave it out", err)
		}
		ports[portAPI] = apiPort
	}
	free, err := freePorts(len(names) - len(ports))
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := ports[n]; !ok {
			ports[n], free = free[0], free[1:]
		}
	}
	return ports, nil
}

// freePorts picks n distinct free ports on 127.0.0.1, holding each until all
// are chosen. They come from below the kernel's ephemeral range when there
// is room: the kernel never hands those out by itself, so an outgoing
// connection or another program's listen on port 0 cannot take one between
// our pick and the component's bind (with port 0 both happen). Random
// choice keeps concurrent environments (parallel tests) apart.
func freePorts(n int) ([]int, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	low, high := belowEphemeral()
	var ports []int
	for attempts := 0; len(ports) < n; attempts++ {
		addr := "127.0.0.1:0"
		if high > low && attempts < 50*n {
			addr = "127.0.0.1:" + strconv.Itoa(low+rand.IntN(high-low+1))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if addr == "127.0.0.1:0" {
				return nil, fmt.Errorf("pick a port: %w", err)
			}
			continue // taken: try another
		}
		held = append(held, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// belowEphemeral is the port range dstload picks from: from 10000 up to
// just below the ephemeral range (Linux: net.ipv4.ip_local_port_range,
// default 32768-60999). low > high means no room: use port 0.
func belowEphemeral() (low, high int) {
	first := 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				first = v
			}
		}
	}
	return 10000, first - 1
}

// PortInUseError is a port some other program holds.
type PortInUseError struct{ Port int }

func (e *PortInUseError) Usage() {}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port 127.0.0.1:%d is in use by another program", e.Port)
}

// waitPortFree gives a port a few seconds to be released: after a crash the
// dead process's connections can hold it briefly (FIN_WAIT), which would
// fail the restart of a recorded component on its recorded port.
func waitPortFree(ctx context.Context, port int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := checkPortFree(port)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func checkPortFree(port int) error {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return &PortInUseError{Port: port}
	}
	return l.Close()
}
