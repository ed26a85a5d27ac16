package testenv

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/vaultferry/vaultferry/test/testcert"
)

// WriteServingCertificate makes a CA and a serving certificate for
// 127.0.0.1 and localhost signed by it, writes them to dir as tls.crt and
// tls.key (the layout of a kubernetes.io/tls Secret), and returns a pool
// trusting only that CA.
func WriteServingCertificate(t testing.TB, dir string) *x509.CertPool {
	t.Helper()
	serving, err := testcert.New("localhost")
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{"tls.crt": serving.CertPEM, "tls.key": serving.KeyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return serving.Pool
}
