package render

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/sprig/v3"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

func renderOK(t *testing.T, tmpl string, data map[string]any) string {
	t.Helper()
	out, err := Render(context.Background(), map[string]string{"k": tmpl}, data, DefaultLimits)
	if err != nil {
		t.Fatalf("rendering %s: %v", tmpl, err)
	}
	return string(out["k"])
}

// Every sprig function is either on the allow-list or refused with a
// reason, so a sprig upgrade cannot add a function unnoticed; every listed
// function exists.
func TestCatalogCoversSprig(t *testing.T) {
	listed := map[string]bool{}
	for _, g := range Catalog {
		for _, name := range g.Functions {
			if listed[name] {
				t.Errorf("%s is listed twice", name)
			}
			listed[name] = true
			if libraryFunc(budgeted(&budget{}), name) == nil {
				t.Errorf("%s is listed but has no implementation", name)
			}
			if refused[name] != "" {
				t.Errorf("%s is both listed and refused", name)
			}
		}
	}
	notNeeded := map[string]bool{"hello": true, "slice": true} // slice: text/template's builtin is kept
	for name := range sprig.TxtFuncMap() {
		if !listed[name] && refused[name] == "" && !notNeeded[name] {
			t.Errorf("sprig's %s is neither allowed nor refused", name)
		}
	}
}

// A refused function fails the template when it is parsed, even in a branch
// that never runs, with an error that names it and says why.
func TestRefusedFunctionsNameThemselvesAndTheReason(t *testing.T) {
	cases := map[string]string{
		"env":           "reads the operator's environment",
		"expandenv":     "reads the operator's environment",
		"getHostByName": "resolves names through the network",
		"now":           "depends on the clock",
		"date":          "depends on the clock",
		"toDate":        "depends on the clock",
		"randAlphaNum":  "uses a random source",
		"uuidv4":        "uses a random source",
		"shuffle":       "uses a random source",
		"bcrypt":        "salts at random",
		"htpasswd":      "salts at random",
		"genPrivateKey": "generates keys or certificates",
		"genCA":         "generates keys or certificates",
		"getSecretKey":  "cannot read the cluster",
		"lookup":        "cannot read the cluster",
		"osBase":        "platform",
		"call":          "functions held in data",
	}
	for name := range refused {
		if _, ok := cases[name]; !ok {
			cases[name] = refused[name]
		}
	}
	for name, why := range cases {
		t.Run(name, func(t *testing.T) {
			for _, tmpl := range []string{"{{ " + name + " }}", `{{ if false }}{{ "x" | ` + name + ` }}{{ end }}`, "{{ define \"t\" }}{{ " + name + " }}{{ end }}"} {
				_, err := Render(context.Background(), map[string]string{"k": tmpl}, testData, DefaultLimits)
				if err == nil || !strings.Contains(err.Error(), `function "`+name+`" is not available`) || !strings.Contains(err.Error(), why) {
					t.Errorf("%s: got %v, want the function named and %q", tmpl, err, why)
				}
			}
		})
	}
	_, err := Render(context.Background(), map[string]string{"k": "{{ noSuchThing }}"}, testData, DefaultLimits)
	if err == nil || !strings.Contains(err.Error(), `"noSuchThing" is not in vaultferry's template functions`) {
		t.Errorf("unknown function: %v", err)
	}
}

func TestLibraryOutput(t *testing.T) {
	data := map[string]any{"user": "app", "password": "s3cr3t", "registry": "registry.example.com", "host": "db.internal",
		"json": `{"b":2,"a":1,"c":{"z":1,"y":2}}`, "csv": "b,a,b,c", "version": "1.27.3"}
	cases := map[string]string{
		`{{ dict "auths" (dict .registry (dict "auth" (printf "%s:%s" .user .password | b64enc))) | toJson }}`: `{"auths":{"registry.example.com":{"auth":"YXBwOnMzY3IzdA=="}}}`,
		`postgres://{{ .user }}:{{ .password | urlquery }}@{{ .host }}:5432/app?sslmode=require`:               `postgres://app:s3cr3t@db.internal:5432/app?sslmode=require`,
		`{{ .json | fromJson | keys | join "," }}`:                                                             `a,b,c`,
		`{{ range (.json | fromJson | values) }}{{ . | toJson }};{{ end }}`:                                    `1;2;{"y":2,"z":1};`,
		`{{ .json | fromJson | toYaml }}`:                                                                      "a: 1\nb: 2\nc:\n  \"y\": 2\n  z: 1\n",
		`{{ (.json | fromJson | toYaml | fromYaml).c.z }}`:                                                     `1`,
		`{{ .csv | splitList "," | uniq | sortAlpha | join "+" }}`:                                             `a+b+c`,
		`{{ .password | sha256sum }}`:                                                                          `4e738ca5563c06cfd0018299933d58db1dd8bf97f6973dc99bf6cdc64b5550bd`,
		`{{ .password | hexenc }} {{ .password | hexenc | hexdec }} {{ .password | b32enc }}`:                  `733363723374 s3cr3t OMZWG4RTOQ======`,
		`{{ regexReplaceAll "(\\w+)\\.example\\.com" .registry "${1}.internal" }}`:                             `registry.internal`,
		`{{ .registry | replace "." "-" | upper | trunc 8 }}`:                                                  `REGISTRY`,
		`{{ semverCompare ">=1.27.0" .version }} {{ (semver .version).Minor }}`:                                `true 27`,
		`{{ .host | splitList "." | first }}-{{ add 1 2 | mul 3 }}`:                                            `db-9`,
		`{{ pick (dict "a" 1 "b" 2) "b" | toJson }} {{ omit (dict "a" 1 "b" 2) "b" | toJson }}`:                `{"b":2} {"a":1}`,
		`{{ get (dict "a" "x") "missing" | default .user }}`:                                                   `app`,
		`{{ "line1\nline2" | indent 2 }}`:                                                                      "  line1\n  line2",
		`{{ .password | b64enc | b64dec }}`:                                                                    `s3cr3t`,
	}
	for tmpl, want := range cases {
		got := renderOK(t, tmpl, data)
		if got != want {
			t.Errorf("%s\n got %q\nwant %q", tmpl, got, want)
		}
	}
}

// Functions whose result can outgrow their arguments are refused before
// they build it, and so are walks over a list that holds itself twice at
// every level (small in memory, exponential once written out).
func TestAmplifyingCallsAreRefusedBeforeTheyBuild(t *testing.T) {
	dag := `{{ $l := list "x" }}{{ range until 60 }}{{ $l = list $l $l }}{{ end }}`
	cases := map[string]string{
		"repeat":                 `{{ repeat 1000000000 "abc" }}`,
		"indent":                 `{{ indent 1000000000 "a\nb" }}`,
		"nindent":                `{{ nindent 1000000000 "a" }}`,
		"until":                  `{{ until 1000000000 | len }}`,
		"untilStep":              `{{ untilStep 0 1000000000 1 | len }}`,
		"seq":                    `{{ seq 1 1000000000 | len }}`,
		"wrapWith":               `{{ wrapWith 1 (repeat 1000 "x") (repeat 100000 "y") }}`,
		"replace":                `{{ replace "" (repeat 1000 "x") (repeat 100000 "y") }}`,
		"replace many":           `{{ replace "y" (repeat 1000 "x") (repeat 100000 "y") }}`,
		"regexReplaceAll":        `{{ regexReplaceAll "y" (repeat 100000 "y") (repeat 1000 "$0") }}`,
		"regexReplaceLiteral":    `{{ regexReplaceAllLiteral "" (repeat 100000 "y") (repeat 1000 "z") }}`,
		"join":                   `{{ join (repeat 100000 "x") (until 1000) }}`,
		"printf widths":          `{{ printf (repeat 100 "%1000000d") 1 }}`,
		"printf star":            `{{ printf "` + strings.Repeat("%*d", 40) + `" ` + strings.Repeat("1000000 1 ", 40) + `}}`,
		"toJson of a DAG":        dag + `{{ toJson $l }}`,
		"toPrettyJson of DAG":    dag + `{{ toPrettyJson $l }}`,
		"toYaml of a DAG":        dag + `{{ toYaml $l }}`,
		"print of a DAG":         dag + `{{ print $l }}`,
		"printf of a DAG":        dag + `{{ printf "%v" $l }}`,
		"deepCopy of a DAG":      dag + `{{ deepCopy $l | len }}`,
		"join of a DAG":          dag + `{{ join "," $l }}`,
		"toStrings of a DAG":     dag + `{{ toStrings $l | len }}`,
		"printing a DAG":         dag + `{{ $l }}`,
		"printing it in a range": dag + `{{ range until 1 }}{{ if true }}{{ $l }}{{ end }}{{ end }}`,
		"int of a DAG":           dag + `{{ int $l }}`,
		"add of a DAG":           dag + `{{ add $l 1 }}`,
		"round of a DAG":         dag + `{{ round $l 2 }}`,
		"doubling a string":      `{{ $s := "xxxxxxxxxxxxxxxx" }}{{ range until 40 }}{{ $s = cat $s $s }}{{ end }}`,
		"doubling a list":        `{{ $l := list 1 }}{{ range until 40 }}{{ $l = concat $l $l }}{{ end }}`,
	}
	for name, tmpl := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Render(context.Background(), map[string]string{"k": tmpl}, testData, DefaultLimits)
			var limit *LimitError
			if !errors.As(err, &limit) {
				t.Fatalf("got %v, want a LimitError", err)
			}
			if !strings.Contains(err.Error(), "template exceeded the limit of") {
				t.Errorf("the error does not name the limit: %v", err)
			}
		})
	}
}

// No map can be made to contain itself: text/template and fmt would recurse
// forever printing it (a crash of the whole operator, not an error).
func TestMapsCannotContainThemselves(t *testing.T) {
	for _, tmpl := range []string{
		`{{ $d := dict }}{{ $_ := set $d "a" $d }}`,
		`{{ $d := dict }}{{ $_ := set $d "a" (list 1 (dict "b" $d)) }}`,
		`{{ $d := dict }}{{ $_ := merge $d (dict "x" $d) }}`,
		`{{ $d := dict }}{{ $_ := mergeOverwrite $d (dict "x" (list $d)) }}`,
		`{{ $d := dict }}{{ $_ := mustMerge $d (dict "x" $d) }}`,
		`{{ $_ := set . "self" . }}`,
	} {
		_, err := Render(context.Background(), map[string]string{"k": tmpl}, map[string]any{"a": "b"}, DefaultLimits)
		if err == nil || !strings.Contains(err.Error(), "would make a map contain itself") {
			t.Errorf("%s: %v", tmpl, err)
		}
	}
	// Sharing without a cycle is fine.
	got := renderOK(t, `{{ $x := dict "v" 1 }}{{ $d := dict }}{{ $_ := set $d "a" $x }}{{ $_ := set $d "b" $x }}{{ $_ := merge $d (dict "c" $x) }}{{ toJson $d }}`, nil)
	if got != `{"a":{"v":1},"b":{"v":1},"c":{"v":1}}` {
		t.Errorf("got %s", got)
	}
}

// A YAML alias bomb is refused by the YAML decoder rather than expanded.
func TestYAMLAliasBombIsRefused(t *testing.T) {
	bomb := "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n" +
		"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
	_, err := Render(context.Background(), map[string]string{"k": `{{ (.y | fromYaml).h | len }}`}, map[string]any{"y": bomb}, DefaultLimits)
	if err == nil {
		t.Fatal("the alias bomb rendered")
	}
}

// testPKI is a root CA, an intermediate and a leaf with SANs, as PEM.
type testPKI struct {
	root, intermediate, leaf, leafKey string
	leafKeyValue                      *ecdsa.PrivateKey
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	issue := func(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	ca := func(serial int64, name string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	}
	rootCert, rootKey, rootPEM := issue(ca(1, "root"), nil, nil)
	interCert, interKey, interPEM := issue(ca(2, "intermediate"), rootCert, rootKey)
	_, leafKey, leafPEM := issue(&x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"app.example.com", "app"},
		IPAddresses: []net.IP{net.ParseIP("10.0.0.7")}}, interCert, interKey)
	der, _ := x509.MarshalPKCS8PrivateKey(leafKey)
	return testPKI{root: rootPEM, intermediate: interPEM, leaf: leafPEM, leafKeyValue: leafKey,
		leafKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))}
}

func TestCertificateAndKeystoreHelpers(t *testing.T) {
	pki := newTestPKI(t)
	chain := pki.leaf + pki.intermediate + pki.root
	data := map[string]any{"chain": chain, "bundle": "junk before\n" + chain + pki.leafKey, "key": pki.leafKey, "cert": pki.leaf, "pass": "keystore-pass"}

	if got := renderOK(t, `{{ filterCertChain "leaf" .chain }}`, data); got != pki.leaf {
		t.Errorf("leaf: %q", got)
	}
	if got := renderOK(t, `{{ filterCertChain "intermediate" .chain }}`, data); got != pki.intermediate {
		t.Errorf("intermediate: %q", got)
	}
	if got := renderOK(t, `{{ filterCertChain "root" .chain }}`, data); got != pki.root {
		t.Errorf("root: %q", got)
	}
	if got := renderOK(t, `{{ filterPEM "PRIVATE KEY" .bundle }}`, data); got != pki.leafKey {
		t.Errorf("filterPEM key: %q", got)
	}
	if got := renderOK(t, `{{ filterPEM "CERTIFICATE" .bundle }}`, data); got != chain {
		t.Errorf("filterPEM certificates: %q", got)
	}
	if got := renderOK(t, `{{ splitPEM .chain | len }} {{ index (splitPEM .chain) 2 | eq (filterCertChain "root" .chain) }}`, data); got != "3 true" {
		t.Errorf("splitPEM: %q", got)
	}
	if got := renderOK(t, `{{ certSANs .chain | join "," }}`, data); got != "app.example.com,app,10.0.0.7" {
		t.Errorf("certSANs: %q", got)
	}

	// PEM -> PKCS#12 -> PEM, with and without a password; the same input gives the same bytes.
	for _, tc := range []struct{ build, certOut, keyOut, password string }{
		{`{{ pemToPkcs12 .chain .key }}`, `{{ pkcs12cert .p12 }}`, `{{ pkcs12key .p12 }}`, ""},
		{`{{ pemToPkcs12Pass .chain .key .pass }}`, `{{ pkcs12certPass .pass .p12 }}`, `{{ pkcs12keyPass .pass .p12 }}`, "keystore-pass"},
		{`{{ fullPemToPkcs12 .bundle }}`, `{{ pkcs12cert .p12 }}`, `{{ pkcs12key .p12 }}`, ""},
		{`{{ fullPemToPkcs12Pass .bundle .pass }}`, `{{ pkcs12certPass .pass .p12 }}`, `{{ pkcs12keyPass .pass .p12 }}`, "keystore-pass"},
	} {
		p12 := renderOK(t, tc.build, data)
		if again := renderOK(t, tc.build, data); again != p12 {
			t.Errorf("%s renders different archives for the same input", tc.build)
		}
		key, cert, cas, err := pkcs12.DecodeChain([]byte(p12), tc.password)
		if err != nil {
			t.Fatalf("%s: the archive does not decode with the password: %v", tc.build, err)
		}
		if !key.(*ecdsa.PrivateKey).Equal(pki.leafKeyValue) || cert.Subject.CommonName != "app" || len(cas) != 2 {
			t.Errorf("%s: archive holds the wrong key or chain", tc.build)
		}
		withP12 := map[string]any{"p12": p12, "pass": tc.password}
		if got := renderOK(t, tc.certOut, withP12); got != chain {
			t.Errorf("%s: certificates %q", tc.certOut, got)
		}
		if got := renderOK(t, tc.keyOut, withP12); got != pki.leafKey {
			t.Errorf("%s: key %q", tc.keyOut, got)
		}
	}
	p12 := renderOK(t, `{{ pemToPkcs12Pass .chain .key .pass }}`, data)
	_, err := Render(context.Background(), map[string]string{"k": `{{ pkcs12keyPass "wrong" .p12 }}`}, map[string]any{"p12": p12}, DefaultLimits)
	if err == nil || !strings.Contains(err.Error(), "the password is not the archive's") {
		t.Errorf("wrong password: %v", err)
	}

	// JWK -> PEM
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: pki.leafKeyValue})
	pubDER, _ := x509.MarshalPKIXPublicKey(&pki.leafKeyValue.PublicKey)
	withJWK := map[string]any{"jwk": string(jwk)}
	if got := renderOK(t, `{{ jwkPrivateKeyPem .jwk }}`, withJWK); got != pki.leafKey {
		t.Errorf("jwkPrivateKeyPem: %q", got)
	}
	if got, want := renderOK(t, `{{ jwkPublicKeyPem .jwk }}`, withJWK), string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})); got != want {
		t.Errorf("jwkPublicKeyPem: %q", got)
	}

	// Errors name the problem, never the input.
	for tmpl, want := range map[string]string{
		`{{ filterPEM "CERTIFICATE" .key }}`:   "no PEM block of the requested type",
		`{{ filterCertChain "leaf" .key }}`:    "no PEM certificate",
		`{{ filterCertChain "other" .chain }}`: "leaf, intermediate or root",
		`{{ pkcs12cert .key }}`:                "not a PKCS#12 archive",
		`{{ pemToPkcs12 .cert .cert }}`:        "needs a private key",
		`{{ jwkPublicKeyPem .key }}`:           "not a JSON Web Key",
	} {
		_, err := Render(context.Background(), map[string]string{"k": tmpl}, data, DefaultLimits)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "BEGIN") {
			t.Errorf("%s: got %v, want %q", tmpl, err, want)
		}
	}
}

// FuzzLibrary calls every allow-listed function on random values in three
// shapes: the same inputs render the same bytes twice, nothing panics, and
// no error quotes a value.
func FuzzLibrary(f *testing.F) {
	var names []string
	for _, g := range Catalog {
		names = append(names, g.Functions...)
	}
	slices.Sort(names)
	f.Add(uint16(0), "hunter2-secret", "other-secret-value")
	f.Add(uint16(7), `{"a":[1,2],"b":"c"}`, "a: b\nc: [1, 2]\n")
	f.Add(uint16(99), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "1.2.3")
	limits := Limits{MaxSteps: 10_000, MaxOutputBytes: 64 << 10, MaxProducedBytes: 1 << 20, Timeout: 5 * time.Second}
	f.Fuzz(func(t *testing.T, pick uint16, a, b string) {
		name := names[int(pick)%len(names)]
		data := map[string]any{"a": a, "b": b}
		for _, tmpl := range []string{"{{ " + name + " .a }}", "{{ .a | " + name + " .b }}", "{{ " + name + " .a .b .a }}",
			"{{ " + name + " (dict .a .b \"k\" (list .a .b)) }}", "{{ " + name + " (list .b .a .b) }}"} {
			out, err := Render(context.Background(), map[string]string{"k": tmpl}, data, limits)
			again, err2 := Render(context.Background(), map[string]string{"k": tmpl}, data, limits)
			if (err == nil) != (err2 == nil) || !cmp.Equal(out, again) {
				t.Fatalf("%s renders differently twice: %q / %q (%v / %v)", tmpl, out["k"], again["k"], err, err2)
			}
			for _, v := range []string{a, b} {
				if err != nil && len(v) >= 8 && !strings.Contains(tmpl, v) && !strings.Contains(name, v) && strings.Contains(err.Error(), v) {
					t.Fatalf("%s: error quotes a value: %v", tmpl, err)
				}
			}
		}
	})
}

// The README's function table lists exactly the Catalog.
func TestREADMEListsTheCatalog(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "<!-- template-functions:begin -->")
	table, _, _ = strings.Cut(table, "<!-- template-functions:end -->")
	for _, g := range Catalog {
		want := "| " + g.Name + " | `" + strings.Join(g.Functions, "` `") + "` |"
		if !strings.Contains(table, want) {
			t.Errorf("README's function table lacks or differs for group %q: want the row\n%s", g.Name, want)
		}
	}
	if rows := strings.Count(table, "\n|") - 2; rows != len(Catalog) {
		t.Errorf("README's function table has %d groups, the Catalog %d", rows, len(Catalog))
	}
}
