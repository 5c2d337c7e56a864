package distributetest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// DNSServer is an authoritative DNS server for tests, built on
// github.com/miekg/dns: it answers A, AAAA and SRV questions from records
// the test sets and changes while it runs, over UDP and TCP on one
// address, and counts the questions each client asked. Any other question,
// or a name with no record of the asked type, gets an empty NOERROR
// answer when the name has records of another type, NXDOMAIN otherwise.
// Answers are not cached (TTL 0), so a changed record is seen by the next
// lookup.
type DNSServer struct {
	// Addr is the "ip:port" the server answers on (UDP and TCP).
	Addr string

	udp, tcp *dns.Server
	done     chan struct{}

	mu      sync.Mutex // protects addrs, srvs, queries
	addrs   map[string][]netip.Addr
	srvs    map[string][]SRVRecord
	queries map[string]int // client IP → questions asked
}

// SRVRecord is one SRV answer: the target host and port, with priority
// and weight.
type SRVRecord struct {
	Target   string
	Port     uint16
	Priority uint16
	Weight   uint16
}

// StartDNS starts a DNS server on addr ("ip:port"; port 0 picks a free
// one, the same for UDP and TCP) and stops it when the test ends.
func StartDNS(t testing.TB, addr string) *DNSServer {
	t.Helper()
	s := &DNSServer{
		addrs:   make(map[string][]netip.Addr),
		srvs:    make(map[string][]SRVRecord),
		queries: make(map[string]int),
		done:    make(chan struct{}),
	}
	var pc net.PacketConn
	var ln net.Listener
	var err error
	for attempt := 0; ; attempt++ {
		pc, err = net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatalf("dns server: listen udp %s: %v", addr, err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if _, port, _ := net.SplitHostPort(addr); port != "0" || attempt == 4 {
			t.Fatalf("dns server: listen tcp %s: %v", addr, err)
		}
	}
	s.Addr = pc.LocalAddr().String()
	var started sync.WaitGroup
	started.Add(2)
	s.udp = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: started.Done}
	s.tcp = &dns.Server{Listener: ln, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: started.Done}
	var served sync.WaitGroup
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		served.Add(1)
		go func() {
			defer served.Done()
			srv.ActivateAndServe()
		}()
	}
	go func() { served.Wait(); close(s.done) }()
	started.Wait()
	t.Cleanup(s.stop)
	return s
}

func (s *DNSServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.udp.ShutdownContext(ctx)
	s.tcp.ShutdownContext(ctx)
	<-s.done
}

// SetAddrs replaces the A and AAAA records of name with addrs (IP
// addresses; none removes them).
func (s *DNSServer) SetAddrs(name string, addrs ...string) {
	var ips []netip.Addr
	for _, a := range addrs {
		ips = append(ips, netip.MustParseAddr(a).Unmap())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ips) == 0 {
		delete(s.addrs, dns.CanonicalName(name))
		return
	}
	s.addrs[dns.CanonicalName(name)] = ips
}

// SetSRV replaces the SRV records of name (for example
// "_dist._tcp.app.test") with records (none removes them).
func (s *DNSServer) SetSRV(name string, records ...SRVRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(records) == 0 {
		delete(s.srvs, dns.CanonicalName(name))
		return
	}
	s.srvs[dns.CanonicalName(name)] = slices.Clone(records)
}

// Queries returns how many questions the client at ip has asked.
func (s *DNSServer) Queries(ip string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[ip]
}

// Resolver returns a Go resolver that asks this server only, for tests
// that run in one process (a test in separate network namespaces points
// the system resolver at the server instead, with resolv.conf).
func (s *DNSServer) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.Addr)
		},
	}
}

func (s *DNSServer) serve(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	client, _, _ := net.SplitHostPort(w.RemoteAddr().String())
	s.mu.Lock()
	s.queries[client]++
	known := false
	for _, q := range r.Question {
		name := dns.CanonicalName(q.Name)
		addrs, hasAddrs := s.addrs[name]
		srvs, hasSRV := s.srvs[name]
		known = known || hasAddrs || hasSRV
		hdr := func(rtype uint16) dns.RR_Header {
			return dns.RR_Header{Name: q.Name, Rrtype: rtype, Class: dns.ClassINET, Ttl: 0}
		}
		switch q.Qtype {
		case dns.TypeA:
			for _, a := range addrs {
				if a.Is4() {
					m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: net.IP(a.AsSlice())})
				}
			}
		case dns.TypeAAAA:
			for _, a := range addrs {
				if a.Is6() {
					m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.IP(a.AsSlice())})
				}
			}
		case dns.TypeSRV:
			for _, r := range srvs {
				m.Answer = append(m.Answer, &dns.SRV{Hdr: hdr(dns.TypeSRV), Priority: r.Priority, Weight: r.Weight, Port: r.Port, Target: dns.Fqdn(r.Target)})
			}
		}
	}
	s.mu.Unlock()
	if !known {
		m.Rcode = dns.RcodeNameError
	}
	if w.LocalAddr().Network() == "udp" {
		size := dns.MinMsgSize
		if o := r.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m) // a client gone before the answer is its business
}

// String describes the server's records, for failure messages.
func (s *DNSServer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "dns server %s:", s.Addr)
	for name, addrs := range s.addrs {
		fmt.Fprintf(&b, " %s=%v", name, addrs)
	}
	for name, srvs := range s.srvs {
		fmt.Fprintf(&b, " %s=SRV%v", name, srvs)
	}
	return b.String()
}
