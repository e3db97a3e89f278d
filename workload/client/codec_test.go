package client

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	pb "github.com/linkerd/linkerd2-proxy-api/go/destination"
	netpb "github.com/linkerd/linkerd2-proxy-api/go/net"
	"google.golang.org/protobuf/proto"
)

func tcp(ap netip.AddrPort) *netpb.TcpAddress {
	a := ap.Addr()
	ip := &netpb.IPAddress{}
	if a.Is4() {
		b := a.As4()
		ip.Ip = &netpb.IPAddress_Ipv4{Ipv4: uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])}
	} else {
		b := a.As16()
		var f, l uint64
		for i := range 8 {
			f = f<<8 | uint64(b[i])
			l = l<<8 | uint64(b[8+i])
		}
		ip.Ip = &netpb.IPAddress_Ipv6{Ipv6: &netpb.IPv6{First: f, Last: l}}
	}
	return &netpb.TcpAddress{Ip: ip, Port: uint32(ap.Port())}
}

// weighted is an address as Linkerd's controller sends it, with the
// labels, identity and hints the light decoder skips.
func weighted(ap netip.AddrPort) *pb.WeightedAddr {
	return &pb.WeightedAddr{
		Addr: tcp(ap), Weight: 10000,
		MetricLabels: map[string]string{"pod": "p-1234", "namespace": "ns", "serviceaccount": "default", "zone": "", "zone_locality": "unknown"},
		TlsIdentity: &pb.TlsIdentity{Strategy: &pb.TlsIdentity_DnsLikeIdentity_{DnsLikeIdentity: &pb.TlsIdentity_DnsLikeIdentity{
			Name: "default.ns.serviceaccount.identity.linkerd.cluster.local"}}},
		ProtocolHint: &pb.ProtocolHint{Protocol: &pb.ProtocolHint_H2_{H2: &pb.ProtocolHint_H2{}}},
	}
}

// TestDecodeMatchesProto: the light decoder reads the same addresses as
// the full protobuf decoding, for every kind of update the server sends.
func TestDecodeMatchesProto(t *testing.T) {
	v4 := netip.MustParseAddrPort("10.244.3.7:8080")
	v6 := netip.MustParseAddrPort("[fd00:10:244::1:7]:80")
	tests := []struct {
		name  string
		msg   *pb.Update
		kind  updateKind
		addrs []netip.AddrPort
	}{
		{"add", &pb.Update{Update: &pb.Update_Add{Add: &pb.WeightedAddrSet{
			Addrs: []*pb.WeightedAddr{weighted(v4), weighted(v6)}, MetricLabels: map[string]string{"service": "s"}}}},
			kindAdd, []netip.AddrPort{v4, v6}},
		{"empty add", &pb.Update{Update: &pb.Update_Add{Add: &pb.WeightedAddrSet{}}}, kindAdd, nil},
		{"remove", &pb.Update{Update: &pb.Update_Remove{Remove: &pb.AddrSet{Addrs: []*netpb.TcpAddress{tcp(v4), tcp(v6)}}}},
			kindRemove, []netip.AddrPort{v4, v6}},
		{"no endpoints", &pb.Update{Update: &pb.Update_NoEndpoints{NoEndpoints: &pb.NoEndpoints{Exists: true}}}, kindNoEndpoints, nil},
		{"empty", &pb.Update{}, kindOther, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := proto.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			var u update
			if err := u.decode(b); err != nil {
				t.Fatal(err)
			}
			if u.kind != tt.kind || !reflect.DeepEqual(append([]netip.AddrPort(nil), u.addrs...), tt.addrs) {
				t.Errorf("decoded kind %d addrs %v, want %d %v", u.kind, u.addrs, tt.kind, tt.addrs)
			}
		})
	}
}

// TestDecodeRandom compares against proto on random updates, and makes
// sure truncated input is an error, never a panic or a wrong address.
func TestDecodeRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var u update
	for i := range 2000 {
		var addrs []netip.AddrPort
		for range r.IntN(20) {
			if r.IntN(10) == 0 {
				var b [16]byte
				for j := range b {
					b[j] = byte(r.Uint32())
				}
				addrs = append(addrs, netip.AddrPortFrom(netip.AddrFrom16(b), uint16(r.Uint32())))
			} else {
				addrs = append(addrs, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}), uint16(r.Uint32())))
			}
		}
		msg := &pb.Update{}
		if i%2 == 0 {
			set := &pb.WeightedAddrSet{}
			for _, a := range addrs {
				set.Addrs = append(set.Addrs, weighted(a))
			}
			msg.Update = &pb.Update_Add{Add: set}
		} else {
			set := &pb.AddrSet{}
			for _, a := range addrs {
				set.Addrs = append(set.Addrs, tcp(a))
			}
			msg.Update = &pb.Update_Remove{Remove: set}
		}
		b, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := u.decode(b); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if got := append([]netip.AddrPort(nil), u.addrs...); !reflect.DeepEqual(got, addrs) && len(addrs) > 0 {
			t.Fatalf("message %d: got %v, want %v", i, got, addrs)
		}
		if len(b) > 1 {
			cut := b[:r.IntN(len(b)-1)+1]
			var full pb.Update
			perr := proto.Unmarshal(cut, &full)
			if derr := u.decode(cut); (derr == nil) != (perr == nil) && derr == nil {
				t.Fatalf("message %d cut to %d bytes: proto says %v, decode accepted it", i, len(cut), perr)
			}
		}
	}
}

// BenchmarkDecode compares the light decoder with the full protobuf
// decoding of the same Add of 100 addresses, as Linkerd sends them.
func BenchmarkDecode(b *testing.B) {
	set := &pb.WeightedAddrSet{}
	for i := range 100 {
		set.Addrs = append(set.Addrs, weighted(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 244, 0, byte(i)}), 8080)))
	}
	raw, err := proto.Marshal(&pb.Update{Update: &pb.Update_Add{Add: set}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("light", func(b *testing.B) {
		b.ReportAllocs()
		var u update
		for b.Loop() {
			if err := u.decode(raw); err != nil || len(u.addrs) != 100 {
				b.Fatal(err)
			}
		}
	})
	b.Run("proto", func(b *testing.B) {
		b.ReportAllocs()
		var u pb.Update
		for b.Loop() {
			u.Reset()
			if err := proto.Unmarshal(raw, &u); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPackedAddr: a receipt's packed address gives back the address it
// was made from, IPv4, IPv6 and IPv4-mapped IPv6 alike.
func TestPackedAddr(t *testing.T) {
	for _, s := range []string{"10.128.4.122:8080", "[fd00::1]:4143", "[::ffff:10.0.0.1]:80", "0.0.0.0:0", "[::]:65535"} {
		t.Run(s, func(t *testing.T) {
			ap := netip.MustParseAddrPort(s)
			if got := pack(ap).addrPort(); got != ap {
				t.Fatalf("pack(%s).addrPort() = %s", ap, got)
			}
		})
	}
}
