package client

import (
	"errors"
	"fmt"
	"net/netip"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// update is what the client keeps of one Destination.Get message: whether
// it adds, removes or clears endpoints, and their addresses. A proxy also
// reads each address's metric labels, identity and protocol hint; dstload
// does not, and decoding only what it needs costs a fraction of the whole
// message. The clients share the machine with the controller they
// measure, so their CPU is part of the experiment (BenchmarkDecode).
type update struct {
	kind  updateKind
	addrs []netip.AddrPort
	// raw is the message as received, kept only for Options.OnReceive.
	raw     []byte
	keepRaw bool
}

type updateKind uint8

const (
	kindOther updateKind = iota // empty or unknown oneof
	kindAdd
	kindRemove
	kindNoEndpoints
)

// Field numbers of linkerd2-proxy-api's destination.proto and net.proto.
const (
	fUpdateAdd         = 1 // Update.add: WeightedAddrSet
	fUpdateRemove      = 2 // Update.remove: AddrSet
	fUpdateNoEndpoints = 3 // Update.no_endpoints
	fSetAddrs          = 1 // WeightedAddrSet.addrs, AddrSet.addrs
	fWeightedAddr      = 1 // WeightedAddr.addr: TcpAddress
	fTCPIP             = 1 // TcpAddress.ip: IPAddress
	fTCPPort           = 2 // TcpAddress.port
	fIPv4              = 1 // IPAddress.ipv4 (fixed32)
	fIPv6              = 2 // IPAddress.ipv6: IPv6
	fIPv6First         = 1 // IPv6.first (fixed64)
	fIPv6Last          = 2 // IPv6.last (fixed64)
)

var errMalformed = errors.New("malformed destination update")

// decode reads one Update message into u, reusing its buffers.
func (u *update) decode(b []byte) error {
	u.kind, u.addrs = kindOther, u.addrs[:0]
	if u.keepRaw {
		u.raw = append(u.raw[:0], b...)
	}
	return fields(b, func(num protowire.Number, v []byte) error {
		kind := kindOther
		switch num {
		case fUpdateAdd:
			kind = kindAdd
		case fUpdateRemove:
			kind = kindRemove
		case fUpdateNoEndpoints:
			kind = kindNoEndpoints
		default:
			return nil
		}
		if kind != u.kind {
			// A later member of the oneof replaces an earlier one, as
			// in proto; a repeated one merges (its addresses append).
			u.kind, u.addrs = kind, u.addrs[:0]
		}
		switch kind {
		case kindAdd:
			return u.addrSet(v, true)
		case kindRemove:
			return u.addrSet(v, false)
		}
		return nil
	})
}

// addrSet reads the addrs of a WeightedAddrSet (weighted) or an AddrSet.
func (u *update) addrSet(b []byte, weighted bool) error {
	return fields(b, func(num protowire.Number, v []byte) error {
		if num != fSetAddrs {
			return nil
		}
		if weighted {
			var addr []byte
			if err := fields(v, func(num protowire.Number, v []byte) error {
				if num == fWeightedAddr {
					addr = v
				}
				return nil
			}); err != nil {
				return err
			}
			v = addr
		}
		ap, err := tcpAddress(v)
		if err != nil {
			return err
		}
		u.addrs = append(u.addrs, ap)
		return nil
	})
}

// tcpAddress reads a net.TcpAddress.
func tcpAddress(b []byte) (netip.AddrPort, error) {
	var ip netip.Addr
	var port uint64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return netip.AddrPort{}, errMalformed
		}
		b = b[n:]
		switch {
		case num == fTCPIP && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return netip.AddrPort{}, errMalformed
			}
			b = b[n:]
			var err error
			if ip, err = ipAddress(v); err != nil {
				return netip.AddrPort{}, err
			}
		case num == fTCPPort && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return netip.AddrPort{}, errMalformed
			}
			b, port = b[n:], v
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return netip.AddrPort{}, errMalformed
			}
			b = b[n:]
		}
	}
	if !ip.IsValid() {
		return netip.AddrPort{}, fmt.Errorf("%w: address without an IP", errMalformed)
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

// ipAddress reads a net.IPAddress (ipv4 fixed32 or IPv6{first, last}).
func ipAddress(b []byte) (netip.Addr, error) {
	var ip netip.Addr
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ip, errMalformed
		}
		b = b[n:]
		switch {
		case num == fIPv4 && typ == protowire.Fixed32Type:
			v, n := protowire.ConsumeFixed32(b)
			if n < 0 {
				return ip, errMalformed
			}
			b = b[n:]
			ip = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		case num == fIPv6 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return ip, errMalformed
			}
			b = b[n:]
			var first, last uint64
			if err := fixed64s(v, &first, &last); err != nil {
				return ip, err
			}
			var a [16]byte
			for i := range 8 {
				a[i] = byte(first >> (56 - 8*i))
				a[8+i] = byte(last >> (56 - 8*i))
			}
			ip = netip.AddrFrom16(a)
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return ip, errMalformed
			}
			b = b[n:]
		}
	}
	return ip, nil
}

// fixed64s reads IPv6's two fixed64 fields.
func fixed64s(b []byte, first, last *uint64) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		if typ == protowire.Fixed64Type && (num == fIPv6First || num == fIPv6Last) {
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return errMalformed
			}
			b = b[n:]
			if num == fIPv6First {
				*first = v
			} else {
				*last = v
			}
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return errMalformed
		}
		b = b[n:]
	}
	return nil
}

// fields calls fn for every length-delimited field of b and skips the rest.
func fields(b []byte, fn func(num protowire.Number, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return errMalformed
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		if err := fn(num, v); err != nil {
			return err
		}
	}
	return nil
}

// codec is gRPC's proto codec, except that it decodes into *update.
// Its name stays "proto": the content subtype on the wire is unchanged.
type codec struct{ proto encoding.CodecV2 }

func newCodec() codec { return codec{proto: encoding.GetCodecV2(proto.Name)} }

func (c codec) Name() string { return proto.Name }

func (c codec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	u, ok := v.(*update)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return u.decode(buf.ReadOnlyData())
}
