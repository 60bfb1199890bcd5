package partner

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/obs"
)

// MaxBody bounds how much of a partner answer a client reads.
const MaxBody = 4 << 20

// Exchange sends req and returns the body of a 2xx answer. A non-2xx answer
// becomes a StatusError whose code errCode reads from the partner's error
// body (errCode may be nil); a transport failure becomes a TransportError.
//
// Each exchange is a client span named by partner and method (never by a
// path, which may carry a case number), and the trace context travels to
// the partner in the traceparent header.
func Exchange(client *http.Client, req *http.Request, partnerName string, errCode func(status int, body []byte) string) ([]byte, *http.Response, error) {
	ctx, span := obs.Tracer().Start(req.Context(), "partner "+partnerName+" "+req.Method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("partner", partnerName)))
	defer span.End()
	req = req.WithContext(ctx)
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := client.Do(req)
	if err != nil {
		span.SetStatus(codes.Error, "transport")
		return nil, nil, TransportError(partnerName, err)
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	if err != nil {
		return nil, resp, TransportError(partnerName, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		code := ""
		if errCode != nil {
			code = errCode(resp.StatusCode, body)
		}
		return body, resp, StatusError(partnerName, resp.StatusCode, code, resp.Header)
	}
	return body, resp, nil
}

// NewJSONRequest builds a request with a JSON body (nil for none).
func NewJSONRequest(ctx context.Context, method, url string, body any) (*http.Request, []byte, error) {
	var raw []byte
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, errs.Wrap(err, errs.Internal, "cannot encode partner request")
		}
		raw, r = b, bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, nil, errs.Wrap(err, errs.Invalid, "bad partner URL")
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, raw, nil
}

// IdleConnsPerPartner is how many idle connections a client keeps to its
// partner. The default transport keeps 2 per host, so a worker calling one
// partner from more goroutines than that closes a connection after nearly
// every call and dials (and for mutual TLS, handshakes) again for the next.
const IdleConnsPerPartner = 128

// BaseTransport returns deps.Transport or a clone of the default transport
// that keeps IdleConnsPerPartner idle connections per host.
func BaseTransport(deps Deps) http.RoundTripper {
	if deps.Transport != nil {
		return deps.Transport
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0 // no limit across hosts; each client talks to one
	t.MaxIdleConnsPerHost = IdleConnsPerPartner
	return t
}

// ClientTLS builds a client TLS config for mutual TLS from cfg: the CA that
// signs the partner's server certificate and our client certificate.
func ClientTLS(cfg *TLSConfig) (*tls.Config, error) {
	if cfg == nil {
		return nil, errs.E(errs.Invalid, "mutual TLS is not configured")
	}
	read := func(pem []byte, file string) ([]byte, error) {
		if len(pem) > 0 {
			return pem, nil
		}
		if file == "" {
			return nil, nil
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, errs.Wrap(err, errs.Invalid, "cannot read TLS file "+file)
		}
		return b, nil
	}
	caPEM, err := read(cfg.CAPEM, cfg.CAFile)
	if err != nil {
		return nil, err
	}
	certPEM, err := read(cfg.CertPEM, cfg.CertFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := read(cfg.KeyPEM, cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	// The session cache lets a new connection resume a session instead of
	// a full handshake with certificate verification.
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(IdleConnsPerPartner)}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errs.E(errs.Invalid, "CA bundle holds no certificate")
		}
		tc.RootCAs = pool
	}
	if len(certPEM) > 0 || len(keyPEM) > 0 {
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, errs.Wrap(err, errs.Invalid, "client certificate and key do not load")
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
