package render

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Certificate and keystore helpers. Inputs and outputs are the raw bytes as
// strings: PEM text, or the binary PKCS#12 archive (b64enc it where text is
// needed). Errors say what was wrong with the input's shape, never its bytes.

// pemBlocks decodes every PEM block of s, ignoring text between them.
func pemBlocks(s string) []*pem.Block {
	var blocks []*pem.Block
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return blocks
		}
		blocks = append(blocks, b)
	}
}

func encodePEM(blocks ...*pem.Block) string {
	var buf bytes.Buffer
	for _, b := range blocks {
		_ = pem.Encode(&buf, b) // writing to a buffer does not fail
	}
	return buf.String()
}

// splitPEM returns each PEM block of s on its own, in order.
func splitPEM(s string) []string {
	var out []string
	for _, b := range pemBlocks(s) {
		out = append(out, encodePEM(b))
	}
	return out
}

// filterPEM keeps the PEM blocks of one type ("CERTIFICATE", "PRIVATE KEY").
func filterPEM(blockType, s string) (string, error) {
	var kept []*pem.Block
	for _, b := range pemBlocks(s) {
		if b.Type == blockType {
			kept = append(kept, b)
		}
	}
	if len(kept) == 0 {
		return "", safeErrorf("filterPEM: the input has no PEM block of the requested type")
	}
	return encodePEM(kept...), nil
}

// filterCertChain keeps the certificates of a chain in one role: "leaf" (the
// first certificate that is not a CA), "intermediate" (CAs not signed by
// themselves) or "root" (self-signed CAs).
func filterCertChain(role, s string) (string, error) {
	certs, err := parseCertificates("filterCertChain", s)
	if err != nil {
		return "", err
	}
	var kept []*pem.Block
	for _, c := range certs {
		selfSigned := bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
		var is string
		switch {
		case !c.IsCA:
			is = "leaf"
		case selfSigned:
			is = "root"
		default:
			is = "intermediate"
		}
		if is == role {
			kept = append(kept, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
	}
	switch role {
	case "leaf", "intermediate", "root":
	default:
		return "", safeErrorf("filterCertChain: the role must be leaf, intermediate or root")
	}
	if len(kept) == 0 {
		return "", safeErrorf("filterCertChain: the chain has no %s certificate", role)
	}
	if role == "leaf" {
		kept = kept[:1]
	}
	return encodePEM(kept...), nil
}

// certSANs lists the subject alternative names of the first certificate:
// DNS names, IP addresses, e-mail addresses and URIs.
func certSANs(s string) ([]string, error) {
	certs, err := parseCertificates("certSANs", s)
	if err != nil {
		return nil, err
	}
	c := certs[0]
	sans := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		sans = append(sans, ip.String())
	}
	sans = append(sans, c.EmailAddresses...)
	for _, u := range c.URIs {
		sans = append(sans, u.String())
	}
	return sans, nil
}

func parseCertificates(name, s string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for _, b := range pemBlocks(s) {
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, safeErrorf("%s: a CERTIFICATE block does not parse", name)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, safeErrorf("%s: the input has no PEM certificate", name)
	}
	return certs, nil
}

// pkcs12Cert returns the certificate of a PKCS#12 archive and its chain, as PEM.
func pkcs12Cert(name, p12, password string) (string, error) {
	_, cert, chain, err := pkcs12.DecodeChain([]byte(p12), password)
	if err != nil {
		return "", pkcs12Error(name, err)
	}
	blocks := []*pem.Block{{Type: "CERTIFICATE", Bytes: cert.Raw}}
	for _, c := range chain {
		blocks = append(blocks, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return encodePEM(blocks...), nil
}

// pkcs12Key returns the private key of a PKCS#12 archive as PKCS#8 PEM.
func pkcs12Key(name, p12, password string) (string, error) {
	key, _, _, err := pkcs12.DecodeChain([]byte(p12), password)
	if err != nil {
		return "", pkcs12Error(name, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", safeErrorf("%s: the key type is not supported", name)
	}
	return encodePEM(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func pkcs12Error(name string, err error) error {
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return safeErrorf("%s: the password is not the archive's", name)
	}
	return safeErrorf("%s: the input is not a PKCS#12 archive this function can read", name)
}

// pemToPkcs12 builds a PKCS#12 archive from PEM holding one private key and
// certificates (the first is the key's, the others its chain). Without a
// password the archive is neither encrypted nor MAC-protected. Its salts
// and IVs come from a generator seeded with the inputs, not a random source:
// the same PEM gives the same archive, so no new version on every sync.
func pemToPkcs12(name, pemData, password string, withPassword bool) (string, error) {
	var key crypto.PrivateKey
	var certs []*x509.Certificate
	for _, b := range pemBlocks(pemData) {
		switch {
		case b.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return "", safeErrorf("%s: a CERTIFICATE block does not parse", name)
			}
			certs = append(certs, c)
		case strings.HasSuffix(b.Type, "PRIVATE KEY") && key == nil:
			k, err := parsePrivateKey(b)
			if err != nil {
				return "", safeErrorf("%s: the private key does not parse", name)
			}
			key = k
		}
	}
	if key == nil || len(certs) == 0 {
		return "", safeErrorf("%s: the PEM needs a private key and at least one certificate", name)
	}
	encoder := pkcs12.Passwordless
	if withPassword {
		encoder = pkcs12.Modern2023
	}
	seed := sha256.Sum256([]byte("vaultferry pkcs12\x00" + password + "\x00" + pemData))
	p12, err := encoder.WithRand(&seededStream{seed: seed}).Encode(key, certs[0], certs[1:], password)
	if err != nil {
		return "", safeErrorf("%s: the archive could not be built (is the key the certificate's?)", name)
	}
	return string(p12), nil
}

func parsePrivateKey(b *pem.Block) (crypto.PrivateKey, error) {
	switch b.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(b.Bytes)
	default:
		return x509.ParsePKCS8PrivateKey(b.Bytes)
	}
}

// seededStream is SHA-256 in counter mode over a seed: unpredictable to
// whoever does not know the seed (here: the secret inputs), and the same
// stream for the same seed.
type seededStream struct {
	seed    [32]byte
	counter uint64
	buf     []byte
}

func (s *seededStream) Read(p []byte) (int, error) {
	for n := 0; n < len(p); {
		if len(s.buf) == 0 {
			var block [40]byte
			copy(block[:], s.seed[:])
			binary.BigEndian.PutUint64(block[32:], s.counter)
			s.counter++
			sum := sha256.Sum256(block[:])
			s.buf = sum[:]
		}
		c := copy(p[n:], s.buf)
		s.buf = s.buf[c:]
		n += c
	}
	return len(p), nil
}

var _ io.Reader = (*seededStream)(nil)

// jwkToPEM converts a JSON Web Key to PEM: its public key (PKIX) or its
// private key (PKCS#8).
func jwkToPEM(name, jwk string, private bool) (string, error) {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON([]byte(jwk)); err != nil {
		return "", safeErrorf("%s: the input is not a JSON Web Key", name)
	}
	if private {
		if k.IsPublic() {
			return "", safeErrorf("%s: the JSON Web Key has no private part", name)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k.Key)
		if err != nil {
			return "", safeErrorf("%s: the key type is not supported", name)
		}
		return encodePEM(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public().Key)
	if err != nil {
		return "", safeErrorf("%s: the key type is not supported", name)
	}
	return encodePEM(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
