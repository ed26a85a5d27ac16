package vault

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"sync"
	"time"

	cleanhttp "github.com/hashicorp/go-cleanhttp"

	"github.com/vaultferry/vaultferry/providers"
)

// maxSharedTransports bounds the distinct CA bundles whose transports are
// kept for sharing; a store beyond it gets a transport of its own.
const maxSharedTransports = 64

// idleConnectionsPerVault is how many idle connections a shared transport
// keeps to one Vault: the sync workers (--concurrency, 10 by default) may all
// read from it at once, and fewer would mean reconnecting (a TLS handshake)
// under load.
const idleConnectionsPerVault = 16

// transports shares one HTTP transport, and so its connections, among the
// stores that trust the same CA bundle and present no client certificate.
// A hundred tenant SecretStores on one Vault then hold a few connections to
// it instead of two each (and two goroutines and 8 KiB of buffers per
// connection in the operator). Tokens and namespaces are per request, so
// sharing a connection shares nothing of a tenant's; a client certificate is
// per connection, so a store presenting one never shares.
type transports struct {
	mu   sync.Mutex
	byCA map[[sha256.Size]byte]*http.Transport
}

// get returns the transport for a store trusting ca (the system roots when
// empty) and presenting cert (none when nil).
func (t *transports) get(ca []byte, cert *tls.Certificate) (*http.Transport, error) {
	if cert != nil {
		return newTransport(ca, cert)
	}
	key := sha256.Sum256(ca)
	t.mu.Lock()
	defer t.mu.Unlock()
	if shared, ok := t.byCA[key]; ok {
		return shared, nil
	}
	transport, err := newTransport(ca, nil)
	if err != nil {
		return nil, err
	}
	if t.byCA == nil {
		t.byCA = map[[sha256.Size]byte]*http.Transport{}
	}
	if len(t.byCA) < maxSharedTransports {
		t.byCA[key] = transport
	}
	return transport, nil
}

// newTransport is Vault's default pooled transport (HTTP/2 when the server
// offers it) trusting ca and presenting cert.
func newTransport(ca []byte, cert *tls.Certificate) (*http.Transport, error) {
	transport := cleanhttp.DefaultPooledTransport()
	transport.TLSHandshakeTimeout = 10 * time.Second
	transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	transport.ForceAttemptHTTP2 = true // as Vault's DefaultConfig, which configures HTTP/2
	transport.MaxIdleConnsPerHost = idleConnectionsPerVault
	if len(ca) > 0 {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(ca) {
			return nil, providers.Errorf(providers.ErrInvalid, "vault: CA bundle: no PEM certificate in it")
		}
		transport.TLSClientConfig.RootCAs = roots
	}
	if cert != nil {
		transport.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	return transport, nil
}
