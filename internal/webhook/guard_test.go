package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/borderproof/borderproof/internal/errs"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ip     string
		public bool
	}{
		// Not public.
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"::1", false},
		{"10.0.0.1", false},
		{"172.16.5.4", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"100.64.0.1", false},
		{"100.127.255.254", false},
		{"169.254.169.254", false},
		{"169.254.1.1", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
		{"224.0.0.251", false},
		{"239.255.255.250", false},
		{"192.0.0.192", false},
		{"192.0.2.10", false},
		{"198.51.100.7", false},
		{"203.0.113.9", false},
		{"198.18.0.1", false},
		{"192.88.99.1", false},
		{"::", false},
		{"fd00::1", false},
		{"fc00::1", false},
		{"fd00:ec2::254", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::127.0.0.1", false},        // IPv4-compatible, deprecated
		{"64:ff9b::7f00:1", false},    // NAT64 of 127.0.0.1
		{"64:ff9b::a00:1", false},     // NAT64 of 10.0.0.1
		{"64:ff9b::a9fe:a9fe", false}, // NAT64 of 169.254.169.254
		{"64:ff9b:1::808:808", false}, // local-use NAT64
		{"2001:db8::1", false},
		{"2001::1", false}, // Teredo
		{"2002:7f00:1::1", false},
		{"3fff::1", false},
		{"5f00::1", false},
		{"4000::1", false},
		// Public. Checked only: no test dials these.
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"93.184.215.14", true},
		{"11.0.0.1", true},
		{"100.63.255.255", true},
		{"100.128.0.1", true},
		{"172.15.255.255", true},
		{"172.32.0.1", true},
		{"192.167.255.255", true},
		{"192.169.0.1", true},
		{"169.253.255.255", true},
		{"223.255.255.255", true},
		{"::ffff:8.8.8.8", true},
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"2606:4700:4700::1111", true},
		{"2001:4860:4860::8888", true},
		{"2a00:1450:4001:80b::200e", true},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.ip)
		reason, public := classify(ip)
		if public != tt.public {
			t.Errorf("classify(%s) = %q, public=%v; want public=%v", tt.ip, reason, public, tt.public)
		}
		err := CheckIP(ip, Allowlist{})
		if (err == nil) != tt.public {
			t.Errorf("CheckIP(%s) = %v, want allowed=%v", tt.ip, err, tt.public)
		}
		if err != nil {
			if !errors.Is(err, ErrForbiddenAddress) || errs.KindOf(err) != errs.Invalid {
				t.Errorf("CheckIP(%s) = %v, want invalid ErrForbiddenAddress", tt.ip, err)
			}
			if e, _ := errs.As(err); strings.Contains(e.Msg, ip.String()) {
				t.Errorf("client message names the address: %q", e.Msg)
			}
		}
	}
	if _, public := classify(netip.Addr{}); public {
		t.Error("the zero Addr is public")
	}
}

func TestAllowlist(t *testing.T) {
	t.Parallel()
	allow, err := ParseAllowlist("127.0.0.0/8", " ::1 ", "10.1.2.3", "Hooks.Internal.", "")
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]bool{
		"127.0.0.1":        true,
		"127.9.9.9":        true,
		"::1":              true,
		"::ffff:127.0.0.1": true,
		"10.1.2.3":         true,
		"10.1.2.4":         false,
		"192.168.1.1":      false,
		"169.254.169.254":  false,
		"8.8.8.8":          true, // public anyway
	} {
		if err := CheckIP(netip.MustParseAddr(ip), allow); (err == nil) != want {
			t.Errorf("CheckIP(%s) with allowlist = %v, want allowed=%v", ip, err, want)
		}
	}
	for host, want := range map[string]bool{
		"hooks.internal":   true,
		"HOOKS.internal.":  true,
		"x.hooks.internal": false,
		"internal":         false,
	} {
		if got := allow.allowsHost(host); got != want {
			t.Errorf("allowsHost(%q) = %v, want %v", host, got, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "not a host", "[::1]", "user@host", "1.2.3.4:80"} {
		if _, err := ParseAllowlist(bad); errs.KindOf(err) != errs.Invalid {
			t.Errorf("ParseAllowlist(%q) = %v, want invalid", bad, err)
		}
	}
}

func TestValidateEndpointURL(t *testing.T) {
	t.Parallel()
	dev, err := ParseAllowlist("127.0.0.0/8", "::1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url   string
		live  bool
		allow Allowlist
		ok    bool
		msg   string // part of the client message when not ok
	}{
		{"https://hooks.example.com/borderproof", true, Allowlist{}, true, ""},
		{"https://hooks.example.com:8443/x?tenant=1", true, Allowlist{}, true, ""},
		{"https://[2606:4700:4700::1111]/x", true, Allowlist{}, true, ""},
		{"https://93.184.215.14/x", true, Allowlist{}, true, ""},
		{"http://hooks.example.com/x", false, Allowlist{}, true, ""},
		{"http://hooks.example.com/x", true, Allowlist{}, false, "https"},
		{"ftp://hooks.example.com/x", false, Allowlist{}, false, "http or https"},
		{"HTTPS://hooks.example.com/x", true, Allowlist{}, true, ""},
		{"https://user:pw@hooks.example.com/x", true, Allowlist{}, false, "user name or password"},
		{"https://user@hooks.example.com/x", true, Allowlist{}, false, "user name or password"},
		{"https:///x", true, Allowlist{}, false, "host"},
		{"https://:443/x", true, Allowlist{}, false, "host"},
		{"https:hooks.example.com", true, Allowlist{}, false, "host"},
		{"/relative/path", true, Allowlist{}, false, "https"},
		{"", true, Allowlist{}, false, "empty"},
		{"https://hooks.example.com:0/x", true, Allowlist{}, false, "port"},
		{"https://hooks.example.com:65536/x", true, Allowlist{}, false, "port"},
		{"https://hooks.example.com:/x", true, Allowlist{}, false, "port"},
		{"https://hooks.example.com/x#frag", true, Allowlist{}, false, "fragment"},
		{"https://hooks.example.com/" + strings.Repeat("a", 2048), true, Allowlist{}, false, "longer"},
		{"https://hooks example.com/x", true, Allowlist{}, false, "valid URL"},
		{"https://127.0.0.1/x", true, Allowlist{}, false, "non-public"},
		{"https://[::1]/x", true, Allowlist{}, false, "non-public"},
		{"https://10.0.0.1/x", true, Allowlist{}, false, "non-public"},
		{"https://172.16.5.4/x", true, Allowlist{}, false, "non-public"},
		{"https://192.168.1.1/x", true, Allowlist{}, false, "non-public"},
		{"http://169.254.169.254/latest/meta-data", false, Allowlist{}, false, "non-public"},
		{"https://[fd00::1]/x", true, Allowlist{}, false, "non-public"},
		{"https://[fd00:ec2::254]/x", true, Allowlist{}, false, "non-public"},
		{"https://[::ffff:127.0.0.1]/x", true, Allowlist{}, false, "non-public"},
		{"https://[64:ff9b::a9fe:a9fe]/x", true, Allowlist{}, false, "non-public"},
		{"https://[fe80::1%25eth0]/x", true, Allowlist{}, false, "zone"},
		{"https://0.0.0.0/x", true, Allowlist{}, false, "non-public"},
		{"https://localhost/x", true, Allowlist{}, false, "non-public"},
		{"https://LOCALHOST./x", true, Allowlist{}, false, "non-public"},
		{"https://api.localhost/x", true, Allowlist{}, false, "non-public"},
		{"https://2130706433/x", true, Allowlist{}, false, "host name"},
		{"https://127.1/x", true, Allowlist{}, false, "host name"},
		{"https://0x7f.1/x", true, Allowlist{}, false, "host name"},
		{"https://0177.0.0.1/x", true, Allowlist{}, false, "host name"},
		// The dev allowlist lets loopback through, in either mode.
		{"http://127.0.0.1:8080/hook", false, dev, true, ""},
		{"https://[::1]:8443/hook", true, dev, true, ""},
		{"http://localhost:9000/hook", false, dev, true, ""},
		{"http://localhost:9000/hook", true, dev, false, "https"},
		{"http://10.0.0.1/hook", false, dev, false, "non-public"},
	}
	for _, tt := range tests {
		err := ValidateEndpointURL(tt.url, tt.live, tt.allow)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateEndpointURL(%q, live=%v) = %v, want ok=%v", tt.url, tt.live, err, tt.ok)
			continue
		}
		if err == nil {
			continue
		}
		e, isErr := errs.As(err)
		if !isErr || e.Kind != errs.Invalid {
			t.Errorf("ValidateEndpointURL(%q) = %v, want an invalid *errs.Error", tt.url, err)
			continue
		}
		if !strings.Contains(e.Msg, tt.msg) {
			t.Errorf("ValidateEndpointURL(%q) message %q does not mention %q", tt.url, e.Msg, tt.msg)
		}
		if u, perr := url.Parse(tt.url); perr == nil && u.Hostname() != "" && strings.Contains(e.Msg, u.Hostname()) {
			t.Errorf("message %q echoes the host", e.Msg)
		}
	}
}

// fakeResolver answers from a map; a name it does not know is an error, so
// no test reaches a real DNS server.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][][]netip.Addr // successive answers; the last repeats
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seq := r.answers[host]
	if len(seq) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	ans := seq[0]
	if len(seq) > 1 {
		r.answers[host] = seq[1:]
	}
	return ans, nil
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// loopbackDialer records every address the guard dials and connects only
// to loopback addresses: if the guard ever let a non-public address
// through, the test fails without traffic leaving the machine.
type loopbackDialer struct {
	mu     sync.Mutex
	dialed []string
}

func (d *loopbackDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.dialed = append(d.dialed, addr)
	d.mu.Unlock()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("test dialer refuses %s", addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func (d *loopbackDialer) addrs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.dialed...)
}

func okServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return srv, u.Port()
}

func TestGuardRefusesNonPublic(t *testing.T) {
	t.Parallel()
	// A live loopback server: if the guard failed for loopback targets the
	// request would succeed, so the failure would be visible.
	_, port := okServer(t)
	res := &fakeResolver{answers: map[string][][]netip.Addr{
		"private.example":  {addrs("10.0.0.7")},
		"metadata.example": {addrs("169.254.169.254")},
		"mixed.example":    {addrs("8.8.8.8", "192.168.1.1")},
		"mapped.example":   {addrs("::ffff:127.0.0.1")},
		"localhost":        {addrs("127.0.0.1", "::1")},
	}}
	hosts := []string{
		"127.0.0.1", "[::1]", "10.0.0.1", "172.16.5.4", "192.168.1.1",
		"169.254.169.254", "[fd00::1]", "[fd00:ec2::254]", "[::ffff:127.0.0.1]",
		"[64:ff9b::7f00:1]", "0.0.0.0", "100.64.0.1",
		"private.example", "metadata.example", "mixed.example", "mapped.example", "localhost",
	}
	for _, host := range hosts {
		t.Run(host, func(t *testing.T) {
			t.Parallel()
			d := &loopbackDialer{}
			client := NewGuardedClient(GuardConfig{Resolver: res, dial: d.dial})
			resp, err := client.Get("http://" + net.JoinHostPort(strings.Trim(host, "[]"), port) + "/")
			if err == nil {
				resp.Body.Close()
				t.Fatalf("request to %s succeeded", host)
			}
			if !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("request to %s: %v, want ErrForbiddenAddress", host, err)
			}
			if errs.KindOf(err) != errs.Invalid {
				t.Errorf("kind = %v, want invalid", errs.KindOf(err))
			}
			if got := d.addrs(); len(got) != 0 {
				t.Errorf("guard dialled %v", got)
			}
		})
	}
}

func TestGuardAllowlist(t *testing.T) {
	t.Parallel()
	_, port := okServer(t)
	res := &fakeResolver{answers: map[string][][]netip.Addr{
		"localhost":  {addrs("127.0.0.1")},
		"dev.test":   {addrs("127.0.0.1")},
		"other.test": {addrs("127.0.0.1")},
	}}
	tests := []struct {
		name    string
		allow   []string
		host    string
		allowed bool
	}{
		{"loopback prefix", []string{"127.0.0.0/8"}, "127.0.0.1", true},
		{"loopback address", []string{"127.0.0.1"}, "127.0.0.1", true},
		{"name resolving into allowed prefix", []string{"127.0.0.0/8"}, "dev.test", true},
		{"allowed host name", []string{"localhost"}, "localhost", true},
		{"other host name", []string{"dev.test"}, "other.test", false},
		{"IPv6 loopback only", []string{"::1"}, "127.0.0.1", false},
		{"other private prefix", []string{"10.0.0.0/8"}, "127.0.0.1", false},
		{"empty allowlist", nil, "127.0.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			allow, err := ParseAllowlist(tt.allow...)
			if err != nil {
				t.Fatal(err)
			}
			d := &loopbackDialer{}
			client := NewGuardedClient(GuardConfig{Allow: allow, Resolver: res, dial: d.dial})
			resp, err := client.Get("http://" + net.JoinHostPort(tt.host, port) + "/")
			if !tt.allowed {
				if err == nil {
					resp.Body.Close()
					t.Fatal("request succeeded")
				}
				if !errors.Is(err, ErrForbiddenAddress) {
					t.Fatalf("err = %v, want ErrForbiddenAddress", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("request refused: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(body) != "ok" {
				t.Fatalf("response %d %q", resp.StatusCode, body)
			}
			if got := d.addrs(); len(got) != 1 || got[0] != "127.0.0.1:"+port {
				t.Errorf("dialled %v, want only 127.0.0.1:%s", got, port)
			}
		})
	}
}

func TestGuardRedirects(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://10.0.0.1/latest/meta-data", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	allow, err := ParseAllowlist("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srvAddr := strings.TrimPrefix(srv.URL, "http://")

	t.Run("client follows no redirect", func(t *testing.T) {
		t.Parallel()
		d := &loopbackDialer{}
		client := NewGuardedClient(GuardConfig{Allow: allow, Resolver: &fakeResolver{}, dial: d.dial})
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "http://10.0.0.1/latest/meta-data" {
			t.Fatalf("got %d Location %q, want the 302 itself", resp.StatusCode, resp.Header.Get("Location"))
		}
		if got := d.addrs(); len(got) != 1 || got[0] != srvAddr {
			t.Errorf("dialled %v, want only %s", got, srvAddr)
		}
	})
	t.Run("transport refuses the redirect target", func(t *testing.T) {
		t.Parallel()
		d := &loopbackDialer{}
		// A client that does follow redirects still cannot reach the
		// private target through the guarded transport.
		client := &http.Client{Transport: NewGuardedTransport(GuardConfig{Allow: allow, Resolver: &fakeResolver{}, dial: d.dial})}
		resp, err := client.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
			t.Fatal("redirect to a private address was followed")
		}
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Fatalf("err = %v, want ErrForbiddenAddress", err)
		}
		if got := d.addrs(); len(got) != 1 || got[0] != srvAddr {
			t.Errorf("dialled %v, want only %s", got, srvAddr)
		}
	})
}

// TestGuardDNSRebinding: a name that first resolves to an allowed address
// and then to a private one is refused on the next connection, because
// each dial checks the addresses of its own resolution.
func TestGuardDNSRebinding(t *testing.T) {
	t.Parallel()
	_, port := okServer(t)
	allow, err := ParseAllowlist("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	res := &fakeResolver{answers: map[string][][]netip.Addr{
		"rebind.test": {addrs("127.0.0.1"), addrs("10.0.0.1")},
	}}
	d := &loopbackDialer{}
	tr := NewGuardedTransport(GuardConfig{Allow: allow, Resolver: res, dial: d.dial})
	tr.DisableKeepAlives = true
	client := &http.Client{Transport: tr}
	target := "http://" + net.JoinHostPort("rebind.test", port) + "/"

	resp, err := client.Get(target)
	if err != nil {
		t.Fatalf("first request: %v", err)
	}
	resp.Body.Close()
	if _, err := client.Get(target); !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("second request after rebinding: %v, want ErrForbiddenAddress", err)
	}
	if got := d.addrs(); len(got) != 1 {
		t.Errorf("dialled %v, want only the first, allowed address", got)
	}
}

func TestGuardResolveFailure(t *testing.T) {
	t.Parallel()
	d := &loopbackDialer{}
	client := NewGuardedClient(GuardConfig{Resolver: &fakeResolver{}, dial: d.dial})
	_, err := client.Get("http://unknown.test/")
	if errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if errors.Is(err, ErrForbiddenAddress) {
		t.Error("a resolution failure is reported as a forbidden address")
	}
}

func TestGuardedTransportIgnoresProxy(t *testing.T) {
	t.Parallel()
	if tr := NewGuardedTransport(GuardConfig{}); tr.Proxy != nil {
		t.Fatal("guarded transport uses a proxy: the guard would check the proxy's address")
	}
}
