package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

// Endpoint URLs are customer input, and the worker that posts to them runs
// inside our network. Two layers keep it from reaching internal services:
// ValidateEndpointURL refuses obviously internal URLs when an endpoint is
// saved, and the guarded transport checks every address it actually dials,
// after DNS resolution, so a name that later resolves to an internal
// address (DNS rebinding) is refused at connection time.

// ErrForbiddenAddress reports an endpoint that is, or resolves to, an
// address that is not publicly routable and not on the Allowlist.
var ErrForbiddenAddress = errors.New("webhook address not allowed")

// maxURLLen bounds an endpoint URL.
const maxURLLen = 2048

// Allowlist names non-public destinations the guard lets through: IP
// prefixes and addresses ("127.0.0.0/8", "::1") and exact host names
// ("localhost"). It comes from operator configuration, for dev mode and
// tests; the zero Allowlist allows nothing beyond public addresses.
type Allowlist struct {
	prefixes []netip.Prefix
	hosts    []string
}

// ParseAllowlist builds an Allowlist from CIDR prefixes, IP addresses and
// host names. A host name entry allows every address the name resolves to.
func ParseAllowlist(entries ...string) (Allowlist, error) {
	var a Allowlist
	for _, e := range entries {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
			continue
		case strings.Contains(e, "/"):
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return Allowlist{}, errs.E(errs.Invalid, "webhook allowlist entry %q is not a valid CIDR prefix", e)
			}
			a.prefixes = append(a.prefixes, p.Masked())
		default:
			if ip, err := netip.ParseAddr(e); err == nil {
				a.prefixes = append(a.prefixes, netip.PrefixFrom(ip.WithZone(""), ip.BitLen()))
				continue
			}
			if strings.ContainsAny(e, " :[]@") {
				return Allowlist{}, errs.E(errs.Invalid, "webhook allowlist entry %q is not an address, prefix or host name", e)
			}
			a.hosts = append(a.hosts, normalizeHost(e))
		}
	}
	return a, nil
}

func (a Allowlist) allowsIP(ip netip.Addr) bool {
	ip = ip.WithZone("")
	for _, p := range a.prefixes {
		if p.Contains(ip) || (ip.Is4In6() && p.Contains(ip.Unmap())) {
			return true
		}
	}
	return false
}

func (a Allowlist) allowsHost(host string) bool {
	host = normalizeHost(host)
	for _, h := range a.hosts {
		if h == host {
			return true
		}
	}
	return false
}

func normalizeHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// CheckIP reports whether the guard may connect to ip: it must be publicly
// routable or on allow. The error wraps ErrForbiddenAddress with kind
// errs.Invalid; its message does not name the address.
func CheckIP(ip netip.Addr, allow Allowlist) error {
	reason, public := classify(ip)
	if public || allow.allowsIP(ip) {
		return nil
	}
	return &errs.Error{
		Kind: errs.Invalid,
		Msg:  "webhook endpoint must not point at a private, loopback or otherwise non-public address",
		Err:  fmt.Errorf("%w: %s is %s", ErrForbiddenAddress, ip, reason),
	}
}

// ValidateEndpointURL checks an endpoint URL when it is saved. Live
// endpoints must use https; sandbox endpoints may also use http. The URL
// must be absolute with a host, carry no user name, password or fragment,
// and must not name a non-public IP address or a localhost name unless
// allow permits it. Host names are not resolved here: the guarded
// transport checks the addresses it dials.
func ValidateEndpointURL(raw string, live bool, allow Allowlist) error {
	bad := func(msg string) error { return errs.E(errs.Invalid, "%s", msg) }
	if raw == "" {
		return bad("webhook URL is empty")
	}
	if len(raw) > maxURLLen {
		return bad("webhook URL is longer than 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("webhook URL is not a valid URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && !live:
	case live:
		return bad("webhook URL must use https")
	default:
		return bad("webhook URL must use http or https")
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return bad("webhook URL must name a host")
	}
	if u.User != nil {
		return bad("webhook URL must not contain a user name or password")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return bad("webhook URL must not contain a fragment")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("webhook URL port must be between 1 and 65535")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("webhook URL port is empty")
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return bad("webhook URL must not contain an IPv6 zone")
		}
		if err := CheckIP(ip, allow); err != nil {
			return err
		}
		return nil
	}
	name := normalizeHost(host)
	if allow.allowsHost(name) {
		return nil
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return &errs.Error{
			Kind: errs.Invalid,
			Msg:  "webhook endpoint must not point at a private, loopback or otherwise non-public address",
			Err:  fmt.Errorf("%w: localhost", ErrForbiddenAddress),
		}
	}
	labels := strings.Split(name, ".")
	if last := labels[len(labels)-1]; last == "" || allDigitsOrHex(last) {
		// No top-level domain is numeric: "2130706433", "127.1" and
		// "0x7f.1" are IPv4 addresses in forms some resolvers accept.
		return bad("webhook URL host is not a valid host name or IP address")
	}
	return nil
}

// allDigitsOrHex reports whether a DNS label reads as a number: decimal,
// or hexadecimal with a 0x prefix.
func allDigitsOrHex(label string) bool {
	s := label
	hex := false
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		s, hex = s[2:], true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case hex && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
		default:
			return false
		}
	}
	return true
}

// Resolver looks up the addresses of a host name. *net.Resolver implements
// it; tests substitute their own answers.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// GuardConfig configures the guarded transport and client.
type GuardConfig struct {
	// Allow lets the listed non-public destinations through.
	Allow Allowlist
	// Resolver resolves endpoint host names; nil means net.DefaultResolver.
	Resolver Resolver
	// DialTimeout bounds one TCP connect; zero means 10 seconds.
	DialTimeout time.Duration
	// RequestTimeout bounds one request of NewGuardedClient, including
	// reading the response; zero means 30 seconds.
	RequestTimeout time.Duration

	// dial replaces the network dial in tests, so that a broken guard can
	// never open a connection that leaves the machine.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// NewGuardedTransport returns an http.Transport that only connects to
// addresses CheckIP allows (or to hosts on cfg.Allow). It resolves each host
// itself and dials the checked IP addresses, so the address checked is the
// address connected to. It ignores proxy environment variables: a proxy
// would make the dialled address the proxy's.
func NewGuardedTransport(cfg GuardConfig) *http.Transport {
	g := &guard{allow: cfg.Allow, resolver: cfg.Resolver, dial: cfg.dial}
	if g.resolver == nil {
		g.resolver = net.DefaultResolver
	}
	if g.dial == nil {
		timeout := cfg.DialTimeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
		g.dial = d.DialContext
	}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            g.dialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  1 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// NewGuardedClient returns an http.Client on NewGuardedTransport that
// follows no redirects: a 3xx response is returned to the caller as is
// (Standard Webhooks counts it as a failed delivery).
func NewGuardedClient(cfg GuardConfig) *http.Client {
	timeout := cfg.RequestTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &http.Client{
		Transport: NewGuardedTransport(cfg),
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

type guard struct {
	allow    Allowlist
	resolver Resolver
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
}

// dialContext resolves addr's host, refuses the whole dial if any address
// is not allowed, and then dials the addresses in turn.
func (g *guard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, errs.Wrap(err, errs.Invalid, "webhook endpoint address is malformed")
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, errs.Wrap(err, errs.Invalid, "webhook endpoint port is malformed")
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ips, err = g.resolver.LookupNetIP(ctx, ipNetwork(network), host)
		if err != nil {
			return nil, errs.Wrap(err, errs.Unavailable, "webhook endpoint host could not be resolved")
		}
		if len(ips) == 0 {
			return nil, errs.E(errs.Unavailable, "webhook endpoint host has no address")
		}
	}
	if !g.allow.allowsHost(host) {
		for _, ip := range ips {
			if err := CheckIP(ip, g.allow); err != nil {
				return nil, err
			}
		}
	}
	var firstErr error
	for _, ip := range ips {
		target := netip.AddrPortFrom(ip.Unmap(), uint16(port)).String()
		conn, err := g.dial(ctx, network, target)
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

func ipNetwork(network string) string {
	switch network {
	case "tcp4":
		return "ip4"
	case "tcp6":
		return "ip6"
	}
	return "ip"
}

// classify reports whether ip is publicly routable and, when it is not,
// why. It follows the IANA special-purpose address registries: IPv4
// addresses outside the ranges below are public; IPv6 addresses are public
// only within global unicast 2000::/3 and outside its special ranges.
// IPv4-mapped and NAT64 (64:ff9b::/96) addresses are judged by the IPv4
// address they carry.
func classify(ip netip.Addr) (reason string, public bool) {
	if !ip.IsValid() {
		return "not an IP address", false
	}
	ip = ip.WithZone("")
	if ip.Is4In6() {
		reason, public = classify(ip.Unmap())
		return "IPv4-mapped " + reason, public
	}
	if ip.Is4() {
		for _, r := range reservedV4 {
			if r.prefix.Contains(ip) {
				return r.reason, false
			}
		}
		return "public", true
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		reason, public = classify(netip.AddrFrom4([4]byte(b[12:16])))
		return "NAT64 " + reason, public
	}
	for _, r := range reservedV6 {
		if r.prefix.Contains(ip) {
			return r.reason, false
		}
	}
	if !globalUnicastV6.Contains(ip) {
		return "reserved", false
	}
	return "public", true
}

type reservedRange struct {
	prefix netip.Prefix
	reason string
}

// The tables below are read-only. The first matching entry names the
// reason, so narrower ranges come first.
var (
	reservedV4 = []reservedRange{
		{netip.MustParsePrefix("0.0.0.0/8"), "unspecified (this network)"},
		{netip.MustParsePrefix("10.0.0.0/8"), "private"},
		{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)"},
		{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
		{netip.MustParsePrefix("169.254.169.254/32"), "cloud metadata"},
		{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
		{netip.MustParsePrefix("172.16.0.0/12"), "private"},
		{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
		{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
		{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast"},
		{netip.MustParsePrefix("192.168.0.0/16"), "private"},
		{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
		{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
		{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
		{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
		{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	}
	reservedV6 = []reservedRange{
		{netip.MustParsePrefix("::/128"), "unspecified"},
		{netip.MustParsePrefix("::1/128"), "loopback"},
		{netip.MustParsePrefix("fd00:ec2::254/128"), "cloud metadata"},
		{netip.MustParsePrefix("fc00::/7"), "unique-local"},
		{netip.MustParsePrefix("fe80::/10"), "link-local"},
		{netip.MustParsePrefix("fec0::/10"), "site-local"},
		{netip.MustParsePrefix("ff00::/8"), "multicast"},
		{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
		{netip.MustParsePrefix("2001::/23"), "IETF protocol assignment (Teredo, benchmarking, ORCHID)"},
		{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
		{netip.MustParsePrefix("2002::/16"), "6to4"},
		{netip.MustParsePrefix("3fff::/20"), "documentation"},
	}
	nat64           = netip.MustParsePrefix("64:ff9b::/96")
	globalUnicastV6 = netip.MustParsePrefix("2000::/3")
)
