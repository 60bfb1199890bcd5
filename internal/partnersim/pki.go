package partnersim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partner"
)

// PKI is the simulator's own test certificate authority, made in memory at
// start: it signs the mutual-TLS server's certificate (for 127.0.0.1, ::1
// and localhost) and one client certificate for BorderProof.
type PKI struct {
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	CAPEM  []byte
	server tls.Certificate
	// ClientCertPEM and ClientKeyPEM are the client's certificate and key.
	ClientCertPEM []byte
	ClientKeyPEM  []byte
}

// NewPKI makes a CA, a server certificate and a client certificate, valid
// for a day.
func NewPKI() (*PKI, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "BorderProof partner simulator test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p := &PKI{caCert: caCert, caKey: caKey, CAPEM: pemBlock("CERTIFICATE", caDER)}

	srvCert, srvKey, err := p.issue("partnersim", x509.ExtKeyUsageServerAuth, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback})
	if err != nil {
		return nil, err
	}
	if p.server, err = tls.X509KeyPair(srvCert, srvKey); err != nil {
		return nil, err
	}
	if p.ClientCertPEM, p.ClientKeyPEM, err = p.IssueClient("borderproof"); err != nil {
		return nil, err
	}
	return p, nil
}

// IssueClient issues another client certificate (PEM certificate and key)
// signed by the CA.
func (p *PKI) IssueClient(commonName string) (certPEM, keyPEM []byte, err error) {
	return p.issue(commonName, x509.ExtKeyUsageClientAuth, nil, nil)
}

func (p *PKI) issue(cn string, usage x509.ExtKeyUsage, dns []string, ips []net.IP) ([]byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"BorderProof sandbox"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE", der), pemBlock("EC PRIVATE KEY", kder), nil
}

// ServerTLS is the server side: our certificate, and client certificates
// required and verified against the CA.
func (p *PKI) ServerTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.caCert)
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
}

// ClientConfig returns the partner TLS config with the PEMs in memory.
func (p *PKI) ClientConfig() *partner.TLSConfig {
	return &partner.TLSConfig{CAPEM: p.CAPEM, CertPEM: p.ClientCertPEM, KeyPEM: p.ClientKeyPEM}
}

// File names WriteClientFiles uses.
const (
	CAFile        = "ca.pem"
	ClientFile    = "client.pem"
	ClientKeyFile = "client-key.pem"
)

// WriteClientFiles writes the CA bundle, client certificate and key into
// dir (created 0700; the key 0600) and returns the partner TLS config that
// names them.
func (p *PKI) WriteClientFiles(dir string) (*partner.TLSConfig, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errs.Wrap(err, errs.Internal, "cannot create TLS directory")
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{{CAFile, p.CAPEM, 0o644}, {ClientFile, p.ClientCertPEM, 0o644}, {ClientKeyFile, p.ClientKeyPEM, 0o600}}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return nil, errs.Wrap(err, errs.Internal, "cannot write TLS file")
		}
	}
	return ReadClientFiles(dir), nil
}

// ReadClientFiles returns the partner TLS config naming the files
// WriteClientFiles wrote in dir; partner.ClientTLS reads them.
func ReadClientFiles(dir string) *partner.TLSConfig {
	return &partner.TLSConfig{
		CAFile:   filepath.Join(dir, CAFile),
		CertFile: filepath.Join(dir, ClientFile),
		KeyFile:  filepath.Join(dir, ClientKeyFile),
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}
