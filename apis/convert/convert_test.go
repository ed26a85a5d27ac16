package convert_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vaultferry/vaultferry/apis/convert"
	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/testenv"
)

var (
	env    *testenv.Env
	update = flag.Bool("update", false, "rewrite the golden files")
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

const corpus = "testdata/eso"

func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errs bytes.Buffer
	code = convert.Main(args, strings.NewReader(stdin), &out, &errs)
	return out.String(), errs.String(), code
}

// The corpus converts to the golden output (comments kept), and stderr
// lists every refused kind and field, then the summary.
func TestCorpusMatchesGolden(t *testing.T) {
	stdout, stderr, code := run(t, "", corpus)
	if code != convert.ExitPartial {
		t.Errorf("exit code %d with refused fields, want %d", code, convert.ExitPartial)
	}
	for file, got := range map[string]string{"testdata/golden/converted.yaml": stdout, "testdata/golden/stderr.txt": stderr} {
		if *update {
			if err := os.WriteFile(file, []byte(got), 0o600); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("%s differs (go test ./apis/convert -run Golden -update rewrites it):\n%s", file, got)
		}
	}
	if _, _, code := run(t, "", "--allow-partial", corpus); code != convert.ExitOK {
		t.Errorf("--allow-partial exited %d", code)
	}
}

// Every refused thing in the corpus is named with file, document and field
// path; nothing the corpus marks as unsupported slips through.
func TestNothingIsDroppedSilently(t *testing.T) {
	_, stderr, _ := run(t, "", filepath.Join(corpus, "40-unsupported.yaml"))
	for _, want := range []string{
		"document 1 (PushSecret payments/push): external-secrets.io/v1alpha1 PushSecret has no equivalent",
		"document 2 (Password payments/pw): generators.external-secrets.io/v1alpha1 Password has no equivalent",
		"document 3 (SecretStore payments/gcp): spec.provider.gcpsm: provider gcpsm is not supported",
		"document 4 (SecretStore payments/ssm): spec.provider.aws.service: ParameterStore is not supported",
		"document 5 (SecretStore payments/vault-ldap): spec.controller:",
		"document 5 (SecretStore payments/vault-ldap): spec.retrySettings:",
		"document 5 (SecretStore payments/vault-ldap): spec.provider.vault.readYourWrites:",
		"document 5 (SecretStore payments/vault-ldap): spec.provider.vault.auth.ldap:",
		"document 6 (ExternalSecret payments/odd): spec.target.creationPolicy: Merge",
		"document 6 (ExternalSecret payments/odd): spec.target.deletionPolicy: Merge",
		"document 6 (ExternalSecret payments/odd): spec.target.template.engineVersion: v1",
		"document 6 (ExternalSecret payments/odd): spec.data[0].remoteRef.conversionStrategy: Unicode",
		"document 6 (ExternalSecret payments/odd): spec.data[0].remoteRef.metadataPolicy: Fetch",
		"document 6 (ExternalSecret payments/odd): spec.data[1].sourceRef:",
		"document 6 (ExternalSecret payments/odd): spec.dataFrom[0].extract.metadataPolicy: Fetch",
		"document 7 (SecretStore payments/node-identity): spec.provider.azurekv: a SecretStore cannot use the operator's own identity (authType ManagedIdentity)",
		"document 6 (ExternalSecret payments/odd): spec.dataFrom[1].find.conversionStrategy: Unicode",
		"document 6 (ExternalSecret payments/odd): spec.dataFrom[1].rewrite[0].merge:",
	} {
		if !strings.Contains(stderr, filepath.Join(corpus, "40-unsupported.yaml")+": "+want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if n := strings.Count(stderr, "not converted: "); n != 18 {
		t.Errorf("%d things reported, want the 18 above:\n%s", n, stderr)
	}
}

// Every document converted from the fully convertible part of the corpus is
// accepted by the real API server with the vaultferry CRDs (a server-side
// dry run), and so is every document of the samples shipped in the README.
func TestConvertedManifestsAreValid(t *testing.T) {
	testenv.Require(t, env)
	for _, ns := range []string{"payments", "checkout"} {
		_, _ = env.Kubectl(context.Background(), "create", "namespace", ns)
	}
	for _, file := range []string{"10-stores.yaml", "20-externalsecrets.yaml", "30-clusterexternalsecret.yaml"} {
		stdout, stderr, code := run(t, "", filepath.Join(corpus, file))
		if code != convert.ExitOK {
			t.Fatalf("%s: exit %d:\n%s", file, code, stderr)
		}
		out := filepath.Join(t.TempDir(), file)
		if err := os.WriteFile(out, []byte(stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		if msg, err := env.Kubectl(context.Background(), "apply", "--dry-run=server", "-f", out); err != nil {
			t.Errorf("%s: the API server refused the converted manifests: %v\n%s", file, err, msg)
		}
	}
}

// The corpus covers every field vaultferry shares with External Secrets
// Operator: each field of the spec types (except those only vaultferry
// has) appears in the converted corpus.
func TestCorpusCoversEverySharedField(t *testing.T) {
	stdout, _, _ := run(t, "", corpus)
	present := map[string]bool{}
	dec := yaml.NewDecoder(strings.NewReader(stdout))
	for {
		var doc yaml.Node
		if dec.Decode(&doc) != nil {
			break
		}
		obj := doc.Content[0]
		kind := valueOf(obj, "kind")
		if kind == "SecretStore" {
			kind = "ClusterSecretStore" // one spec type
		}
		paths(valueOf2(obj, "spec"), kind+":spec", present)
	}
	types := map[string]reflect.Type{
		"ExternalSecret":        reflect.TypeFor[vfv1alpha1.ExternalSecretSpec](),
		"ClusterSecretStore":    reflect.TypeFor[vfv1alpha1.SecretStoreSpec](),
		"ClusterExternalSecret": reflect.TypeFor[vfv1alpha1.ClusterExternalSecretSpec](),
	}
	for kind, typ := range types {
		for _, field := range fieldPaths(typ, kind+":spec") {
			if !present[field] && !vaultferryOnly.MatchString(field) {
				t.Errorf("the corpus never uses %s", field)
			}
		}
	}
}

// vaultferryOnly are fields External Secrets Operator does not have (or
// whose subtree another test covers).
var vaultferryOnly = regexp.MustCompile(strings.Join([]string{
	`\.rollout`, `\.history`, `\.holdVersion$`, `\.dynamic`, `\.maxKeys$`, `\.allowedKeys$`, `\.allowedDynamic`, `\.rateLimit`, `\.minRefreshInterval$`, `\.endpoint$`, `\.clientTLSSecretRef`,
	`fake\.authSecretRef`, `fake\.token$`, `fake\.data\.tags$`, `templateFrom\.(configMap|secret)\.namespace$`,
	`ClusterExternalSecret:spec\.externalSecretSpec\.`, // the ExternalSecret spec, covered above
}, "|"))

func valueOf(m *yaml.Node, key string) string {
	if v := valueOf2(m, key); v != nil {
		return v.Value
	}
	return ""
}

func valueOf2(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func paths(n *yaml.Node, prefix string, into map[string]bool) {
	if n == nil {
		return
	}
	into[prefix] = true
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			paths(n.Content[i+1], prefix+"."+n.Content[i].Value, into)
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			paths(item, prefix, into)
		}
	}
}

// fieldPaths lists the JSON field paths of typ, maps and slices flattened.
func fieldPaths(typ reflect.Type, prefix string) []string {
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
		if typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Uint8 {
			return nil
		}
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[metav1.Duration]() {
		return nil
	}
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, prefix+"."+name)
		if f.Type.Kind() != reflect.Map {
			out = append(out, fieldPaths(f.Type, prefix+"."+name)...)
		}
	}
	return out
}

// Comments survive, stdin works, and --mutable keeps one mutable Secret.
func TestStdinCommentsAndMutable(t *testing.T) {
	in := `# keep me
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata: {name: a, namespace: n} # and me
spec:
  secretStoreRef: {name: s}
  data: [{secretKey: k, remoteRef: {key: r}}] # and me too
`
	stdout, stderr, code := run(t, in)
	if code != convert.ExitOK || !strings.Contains(stdout, "# keep me") || !strings.Contains(stdout, "# and me\n") || !strings.Contains(stdout, "# and me too") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "target.immutable: writes immutable versions") || !strings.Contains(stderr, "in: ExternalSecret n/a") {
		t.Errorf("the summary does not list the immutable default:\n%s", stderr)
	}
	stdout, stderr, _ = run(t, in, "--mutable", "-")
	if !strings.Contains(stdout, "immutable: false") || strings.Contains(stderr, "target.immutable") {
		t.Errorf("--mutable: stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if _, stderr, code := run(t, "", "does-not-exist.yaml"); code != convert.ExitUsage || !strings.Contains(stderr, "does-not-exist.yaml") {
		t.Errorf("a missing file: exit %d, %s", code, stderr)
	}
	// An anchor where anything goes (labels), its alias where fields are checked.
	aliased := `apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: a, namespace: n, labels: &t {lifecycle: keep}}
spec:
  secretStoreRef: {name: s}
  target: *t
  data: [{secretKey: k, remoteRef: {key: r}}]
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: b, namespace: n, annotations: &o {creationPolicy: Orphan}}
spec:
  secretStoreRef: {name: s}
  target: *o
  data: [{secretKey: k, remoteRef: {key: r}}]
`
	stdout, stderr, code = run(t, aliased)
	if code != convert.ExitPartial || !strings.Contains(stderr, "spec.target.lifecycle: no equivalent") {
		t.Errorf("a field behind an alias: exit %d, %s", code, stderr)
	}
	if !strings.Contains(stderr, "target.creationPolicy: Orphan became target.deletionPolicy: Retain") {
		t.Errorf("the rules did not see through the alias:\n%s", stderr)
	}
	if !strings.Contains(stdout, "labels: &t {lifecycle: keep}") {
		t.Errorf("the anchor lost what the alias could not keep:\n%s", stdout)
	}
	if _, stderr, code := run(t, "kind: [unclosed"); code != convert.ExitUsage || !strings.Contains(stderr, "<stdin>: document 1") {
		t.Errorf("unparsable input: exit %d, %s", code, stderr)
	}
}

// kubectl get -o yaml of several objects is a List: its items are converted.
func TestKubectlListOutput(t *testing.T) {
	in := `apiVersion: v1
kind: List
items:
- apiVersion: external-secrets.io/v1
  kind: ExternalSecret
  metadata: {name: a, namespace: n, resourceVersion: "7"}
  spec:
    secretStoreRef: {name: s}
    data: [{secretKey: k, remoteRef: {key: r}}]
  status: {refreshTime: "2026-01-01T00:00:00Z"}
- apiVersion: external-secrets.io/v1alpha1
  kind: PushSecret
  metadata: {name: p, namespace: n}
  spec: {}
metadata: {resourceVersion: ""}
`
	stdout, stderr, code := run(t, in)
	if code != convert.ExitPartial || !strings.Contains(stderr, "<stdin>: document 1 (PushSecret n/p): external-secrets.io/v1alpha1 PushSecret has no equivalent") {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "apiVersion: vaultferry.io/v1alpha1") || strings.Contains(stdout, "PushSecret") || strings.Contains(stdout, "resourceVersion: \"7\"") || strings.Contains(stdout, "status") {
		t.Errorf("converted List:\n%s", stdout)
	}
	if !strings.Contains(stderr, "Converted: 1 ExternalSecret") {
		t.Errorf("summary:\n%s", stderr)
	}
}

// The README's migration table names every refused field and every behaviour change.
func TestREADMEMigrationTable(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, _ := run(t, "", corpus)
	for _, line := range strings.Split(stderr, "\n") {
		_, path, ok := strings.Cut(line, "): ")
		if !strings.HasPrefix(line, "not converted: ") || !ok {
			continue
		}
		path, _, _ = strings.Cut(path, ":")
		field := path[strings.LastIndex(path, ".")+1:]
		field = strings.TrimRight(field[strings.LastIndex(field, "]")+1:], " ")
		if strings.Contains(path, " ") { // a whole kind
			field = strings.Fields(path)[1]
		}
		if !regexp.MustCompile("`[^`\n]*\\b" + regexp.QuoteMeta(field) + "\\b[^`\n]*`").Match(readme) {
			t.Errorf("the README's migration table does not mention %s (%s)", field, line)
		}
	}
	if !slices.ContainsFunc(strings.Split(string(readme), "\n"), func(l string) bool { return strings.HasPrefix(l, "## Migrating from External Secrets Operator") }) {
		t.Error("no migration section")
	}
}
