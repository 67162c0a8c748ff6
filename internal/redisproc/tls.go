package redisproc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLS makes a server speak TLS only: --port 0 and a --tls-port, so a
// client that forgets --tls finds nothing plain to talk to. A cluster's
// nodes also talk TLS to each other (tls-cluster, tls-replication).
type TLS struct {
	CAFile   string // --tls-ca-cert-file: the CA that signs client certificates
	CertFile string // --tls-cert-file (also the certificate a node shows its peers)
	KeyFile  string // --tls-key-file
	// AuthClients is --tls-auth-clients: "yes" (a client must show a
	// certificate from CAFile), "optional" (checked when shown) or "no"
	// (the default when empty).
	AuthClients string
	// ClientCertFile and ClientKeyFile are what redisproc itself shows when
	// it checks the server is up or forms a cluster; needed with
	// AuthClients "yes".
	ClientCertFile, ClientKeyFile string
}

func (t *TLS) args(port int) []string {
	auth := t.AuthClients
	if auth == "" {
		auth = "no"
	}
	return []string{
		"--port", "0",
		"--tls-port", fmt.Sprint(port),
		"--tls-cert-file", t.CertFile,
		"--tls-key-file", t.KeyFile,
		"--tls-ca-cert-file", t.CAFile,
		"--tls-auth-clients", auth,
	}
}

// ClientConfig is a client configuration that trusts CAFile and shows the
// client certificate, if any: what redisproc's own connections use.
func (t *TLS) ClientConfig() (*tls.Config, error) {
	pemCA, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		return nil, fmt.Errorf("%s: no PEM certificate", t.CAFile)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if t.ClientCertFile != "" {
		pair, err := tls.LoadX509KeyPair(t.ClientCertFile, t.ClientKeyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// PKI is a throwaway certificate authority with a server and a client
// certificate it signed, as PEM files in Dir. The server certificate names
// 127.0.0.1 and localhost, and may also authenticate as a client (a
// cluster node shows it to its peers).
type PKI struct {
	Dir                           string
	CAFile                        string
	ServerCertFile, ServerKeyFile string
	ClientCertFile, ClientKeyFile string

	ca  *x509.Certificate
	key *ecdsa.PrivateKey
}

// NewPKI makes a CA named name and its two certificates in dir, valid for
// a day.
func NewPKI(dir, name string) (*PKI, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	p := &PKI{Dir: dir, key: key}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	p.CAFile = filepath.Join(dir, name+"-ca.crt")
	if err := os.WriteFile(p.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	server := x509.ExtKeyUsage(x509.ExtKeyUsageServerAuth)
	client := x509.ExtKeyUsage(x509.ExtKeyUsageClientAuth)
	if p.ServerCertFile, p.ServerKeyFile, err = p.Issue(name+"-server", []x509.ExtKeyUsage{server, client}, "localhost", "127.0.0.1"); err != nil {
		return nil, err
	}
	if p.ClientCertFile, p.ClientKeyFile, err = p.Issue(name+"-client", []x509.ExtKeyUsage{client}); err != nil {
		return nil, err
	}
	return p, nil
}

// Issue signs a certificate for hosts (DNS names or IP addresses) and
// writes it and its key to Dir as base.crt and base.key.
func (p *PKI) Issue(base string, usage []x509.ExtKeyUsage, hosts ...string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: base},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(p.Dir, base+".crt"), filepath.Join(p.Dir, base+".key")
	err = errors.Join(
		os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600),
		os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600),
	)
	return certFile, keyFile, err
}

// ServerTLS is the TLS option for a server with this PKI's server
// certificate, checking clients against the CA as authClients says ("yes",
// "optional", "no"). redisproc itself shows the client certificate.
func (p *PKI) ServerTLS(authClients string) *TLS {
	return &TLS{
		CAFile: p.CAFile, CertFile: p.ServerCertFile, KeyFile: p.ServerKeyFile, AuthClients: authClients,
		ClientCertFile: p.ClientCertFile, ClientKeyFile: p.ClientKeyFile,
	}
}

// PKIForTest makes a PKI named name in a directory the test removes.
func PKIForTest(t testing.TB, name string) *PKI {
	t.Helper()
	p, err := NewPKI(t.TempDir(), name)
	if err != nil {
		t.Fatalf("make test certificates: %v", err)
	}
	return p
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err) // crypto/rand.Reader does not fail (Go 1.24+)
	}
	return n
}
