package externalsecret_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// The template samples sync against the fake provider to the documented
// bytes; rotation and a templateFrom edit make new versions.
func TestTemplateSamplesRender(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	env.MustKubectl(t, "apply", "-n", ns, "-f", filepath.Join(testenv.RepoRoot(), "config", "samples", "templates"))
	es := func(name string) *vfv1alpha1.ExternalSecret {
		return &vfv1alpha1.ExternalSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	current := func(name string) *corev1.Secret {
		return getSecret(t, ns, synced(t, es(name), "").Status.CurrentSecretName)
	}

	pull := current("registry-pull")
	auth := base64.StdEncoding.EncodeToString([]byte("robot$ci:demo-registry-token"))
	if pull.Type != corev1.SecretTypeDockerConfigJson || string(pull.Data[".dockerconfigjson"]) !=
		`{"auths":{"registry.example.com":{"auth":"`+auth+`","password":"demo-registry-token","username":"robot$ci"}}}` {
		t.Errorf("image pull Secret: type %s, %s", pull.Type, pull.Data[".dockerconfigjson"])
	}

	if got := string(current("orders-db").Data["DATABASE_URL"]); got != "postgres://app:p%40ss%20word%2F1@db.internal:5432/orders?sslmode=require" {
		t.Errorf("DSN: %s", got)
	}

	keystore := current("app-keystore")
	_, cert, _, err := pkcs12.DecodeChain(keystore.Data["keystore.p12"], string(keystore.Data["keystore.password"]))
	if err != nil || cert.Subject.CommonName != "app.example.com" {
		t.Errorf("keystore.p12 does not open with its password to the certificate: %v", err)
	}
	if string(keystore.Data["sans"]) != "app.example.com,app" || string(keystore.Data["tls.crt"]) == "" {
		t.Errorf("sans %q", keystore.Data["sans"])
	}
	// The archive's salts are derived from its inputs: a forced sync of the
	// same PEM writes no new version.
	operator.ForceSync(t, env.Client, es("app-keystore"))
	if again := synced(t, es("app-keystore"), ""); again.Status.CurrentSecretName != keystore.Name {
		t.Errorf("the same PEM gave a new keystore version %s (was %s)", again.Status.CurrentSecretName, keystore.Name)
	}

	// Dual-key rotation: the new version carries the old key.
	keys := current("api-keys")
	if diff := cmp.Diff(map[string]string{"API_KEY": "demo-api-key-1", "API_KEY_PREVIOUS": "demo-api-key-1"}, stringData(keys)); diff != "" {
		t.Errorf("first api-keys version:\n%s", diff)
	}
	store := &vfv1alpha1.SecretStore{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "templates-fake"}}
	update(t, store, func(s *vfv1alpha1.SecretStore) {
		for i := range s.Spec.Provider.Fake.Data {
			if s.Spec.Provider.Fake.Data[i].Key == "api/key" {
				s.Spec.Provider.Fake.Data[i].Value = "demo-api-key-2"
			}
		}
	})
	rotated := getSecret(t, ns, synced(t, es("api-keys"), keys.Name).Status.CurrentSecretName)
	if diff := cmp.Diff(map[string]string{"API_KEY": "demo-api-key-2", "API_KEY_PREVIOUS": "demo-api-key-1"}, stringData(rotated)); diff != "" {
		t.Errorf("rotated api-keys version:\n%s", diff)
	}
	operator.ForceSync(t, env.Client, es("api-keys"))
	if again := synced(t, es("api-keys"), ""); again.Status.CurrentSecretName != rotated.Name {
		t.Errorf("a refresh with the same key made a new version %s", again.Status.CurrentSecretName)
	}

	// templateFrom: editing the ConfigMap renders a new version, without touching the ExternalSecret.
	config := current("orders-config")
	if got := string(config.Data["config.yaml"]); got != "database:\n  host: db.internal\n  user: app\n  password: \"p@ss word/1\"\n" {
		t.Errorf("config.yaml: %q", got)
	}
	update(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders-config-template"}}, func(cm *corev1.ConfigMap) {
		cm.Data["config.yaml"] = "database: {{ .host }}:5432\n"
	})
	edited := getSecret(t, ns, synced(t, es("orders-config"), config.Name).Status.CurrentSecretName)
	if got := string(edited.Data["config.yaml"]); got != "database: db.internal:5432\n" {
		t.Errorf("after the ConfigMap edit: %q", got)
	}
}

func stringData(s *corev1.Secret) map[string]string {
	out := map[string]string{}
	for k, v := range s.Data {
		out[k] = string(v)
	}
	return out
}

// A templateFrom source that does not exist yet is waited for, and its
// creation syncs the ExternalSecret; a ServiceAccount token Secret is never
// read as a template.
func TestTemplateFromSources(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	readyStore(t, ns, "store", vfv1alpha1.FakeProviderData{Key: "db", Value: `{"password":"tpl-s3cr3t-value"}`})
	withSource := func(name string, from vfv1alpha1.TemplateFrom) *vfv1alpha1.ExternalSecret {
		es := &vfv1alpha1.ExternalSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: vfv1alpha1.ExternalSecretSpec{
			SecretStoreRef: vfv1alpha1.SecretStoreRef{Name: "store"},
			DataFrom:       []vfv1alpha1.ExternalSecretDataFrom{{Extract: &vfv1alpha1.RemoteRef{Key: "db"}}},
			Target:         vfv1alpha1.ExternalSecretTarget{Template: &vfv1alpha1.SecretTemplate{TemplateFrom: []vfv1alpha1.TemplateFrom{from}}},
		}}
		operator.Create(t, env.Client, es)
		return es
	}

	later := withSource("later", vfv1alpha1.TemplateFrom{ConfigMap: &vfv1alpha1.TemplateSourceRef{Name: "later-tpl",
		Items: []vfv1alpha1.TemplateSourceItem{{Key: "pw"}}}})
	operator.WaitForReason(t, env.Client, later, metav1.ConditionFalse, vfv1alpha1.TemplateSourceNotFoundReason)
	operator.Create(t, env.Client, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "later-tpl"},
		Data: map[string]string{"pw": "pw={{ .password }}"}})
	later = synced(t, later, "")
	if got := string(getSecret(t, ns, later.Status.CurrentSecretName).Data["pw"]); got != "pw=tpl-s3cr3t-value" {
		t.Errorf("rendered %q", got)
	}

	// A source that is another ExternalSecret's (mutable) target: the
	// template source cache leaves the operator's Secrets out, the main
	// cache sees the change.
	baseStore := readyStore(t, ns, "base-store", vfv1alpha1.FakeProviderData{Key: "app", Value: `{"user":"u1"}`})
	base := &vfv1alpha1.ExternalSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "base"}, Spec: vfv1alpha1.ExternalSecretSpec{
		SecretStoreRef: vfv1alpha1.SecretStoreRef{Name: "base-store"},
		DataFrom:       []vfv1alpha1.ExternalSecretDataFrom{{Extract: &vfv1alpha1.RemoteRef{Key: "app"}}},
	}}
	fixtures.WithTarget("base-out")(base)
	fixtures.WithMutableTarget()(base)
	operator.Create(t, env.Client, base)
	synced(t, base, "")
	derived := withSource("derived", vfv1alpha1.TemplateFrom{Secret: &vfv1alpha1.TemplateSourceRef{Name: "base-out",
		Items: []vfv1alpha1.TemplateSourceItem{{Key: "user"}}}})
	operator.Update(t, env.Client, derived, func(es *vfv1alpha1.ExternalSecret) {
		es.Spec.RefreshInterval = &metav1.Duration{Duration: time.Hour} // only the source's change can wake it
	})
	derived = operator.WaitFor(t, env.Client, derived, "rendered from base-out", func(es *vfv1alpha1.ExternalSecret) bool {
		return es.Status.CurrentSecretName != "" && es.Status.ObservedGeneration == es.Generation
	})
	if got := string(getSecret(t, ns, derived.Status.CurrentSecretName).Data["user"]); got != "u1" {
		t.Fatalf("rendered %q from base-out, want u1", got)
	}
	setStoreData(t, baseStore, vfv1alpha1.FakeProviderData{Key: "app", Value: `{"user":"u2"}`})
	derived = synced(t, derived, derived.Status.CurrentSecretName)
	if got := string(getSecret(t, ns, derived.Status.CurrentSecretName).Data["user"]); got != "u2" {
		t.Errorf("after base-out changed, rendered %q, want u2", got)
	}

	token := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sa-token",
		Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}}, Type: corev1.SecretTypeServiceAccountToken}
	operator.Create(t, env.Client, token)
	fromToken := withSource("from-token", vfv1alpha1.TemplateFrom{Secret: &vfv1alpha1.TemplateSourceRef{Name: "sa-token",
		Items: []vfv1alpha1.TemplateSourceItem{{Key: "token", TemplateAs: vfv1alpha1.TemplateScopeKeysAndValues}}}})
	fromToken = operator.WaitForReason(t, env.Client, fromToken, metav1.ConditionFalse, vfv1alpha1.InvalidSpecReason)
	if c := operator.Condition(fromToken.Status.Conditions, vfv1alpha1.ReadyCondition); c.Message !=
		"templateFrom Secret sa-token is a kubernetes.io/service-account-token Secret: templates cannot be read from tokens" {
		t.Errorf("message: %s", c.Message)
	}
	if fromToken.Status.CurrentSecretName != "" {
		t.Error("a version was written from a token Secret")
	}
	operator.AssertNoLeak(t, env.Client, ns, "tpl-s3cr3t-value")
}

// CreatedOnce fetches only while there is no version; OnChange fetches on
// a spec change but not when the store's data changes; both still answer
// force-sync.
func TestRefreshPolicies(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	store := readyStore(t, ns, "store", vfv1alpha1.FakeProviderData{Key: "db", Value: `{"password":"one"}`})
	newES := func(name string, policy vfv1alpha1.RefreshPolicy) *vfv1alpha1.ExternalSecret {
		es := &vfv1alpha1.ExternalSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: vfv1alpha1.ExternalSecretSpec{
			SecretStoreRef: vfv1alpha1.SecretStoreRef{Name: "store"}, RefreshPolicy: policy, RefreshInterval: &metav1.Duration{Duration: time.Second},
			DataFrom: []vfv1alpha1.ExternalSecretDataFrom{{Extract: &vfv1alpha1.RemoteRef{Key: "db"}}},
		}}
		operator.Create(t, env.Client, es)
		return synced(t, es, "")
	}
	once, onChange, periodic := newES("once", vfv1alpha1.RefreshCreatedOnce), newES("on-change", vfv1alpha1.RefreshOnChange), newES("periodic", "")

	setStoreData(t, store, vfv1alpha1.FakeProviderData{Key: "db", Value: `{"password":"two"}`})
	synced(t, periodic, periodic.Status.CurrentSecretName) // the baseline: the store change is fetched
	time.Sleep(3 * time.Second)                            // three refresh intervals
	for _, es := range []*vfv1alpha1.ExternalSecret{once, onChange} {
		got := &vfv1alpha1.ExternalSecret{}
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(es), got); err != nil {
			t.Fatal(err)
		}
		if got.Status.CurrentSecretName != es.Status.CurrentSecretName || !got.Status.RefreshTime.Equal(es.Status.RefreshTime) {
			t.Errorf("%s (%s) fetched again after a store change: %s", es.Name, es.Spec.RefreshPolicy, got.Status.CurrentSecretName)
		}
	}

	// A spec change: OnChange fetches, CreatedOnce observes it and keeps its version.
	for _, es := range []*vfv1alpha1.ExternalSecret{once, onChange} {
		update(t, es, func(es *vfv1alpha1.ExternalSecret) { es.Spec.Target.History = &vfv1alpha1.History{Limit: 5} })
	}
	if got := synced(t, onChange, onChange.Status.CurrentSecretName); string(getSecret(t, ns, got.Status.CurrentSecretName).Data["password"]) != "two" {
		t.Error("OnChange did not fetch on a spec change")
	}
	got := operator.WaitFor(t, env.Client, once, "the spec change observed", func(es *vfv1alpha1.ExternalSecret) bool {
		return es.Status.ObservedGeneration == es.Generation
	})
	if got.Status.CurrentSecretName != once.Status.CurrentSecretName || !operator.HasReason(got.Status.Conditions, metav1.ConditionTrue, vfv1alpha1.SyncedReason) {
		t.Errorf("CreatedOnce after a spec change: %s, %v", got.Status.CurrentSecretName, got.Status.Conditions)
	}
	operator.ForceSync(t, env.Client, once)
	if got := synced(t, once, once.Status.CurrentSecretName); string(getSecret(t, ns, got.Status.CurrentSecretName).Data["password"]) != "two" {
		t.Error("CreatedOnce did not answer force-sync")
	}
}

// With history limit 1 a dual-key template still renders the same version
// on every refresh of the same value: the version before is kept for it.
func TestPreviousIsStableWithTheSmallestHistory(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	store := readyStore(t, ns, "store", vfv1alpha1.FakeProviderData{Key: "k", Value: "key-1"})
	es := &vfv1alpha1.ExternalSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dual"}, Spec: vfv1alpha1.ExternalSecretSpec{
		SecretStoreRef: vfv1alpha1.SecretStoreRef{Name: "store"},
		Data:           []vfv1alpha1.ExternalSecretData{{SecretKey: "key", RemoteRef: vfv1alpha1.RemoteRef{Key: "k"}}},
		Target: vfv1alpha1.ExternalSecretTarget{History: &vfv1alpha1.History{Limit: 1}, Template: &vfv1alpha1.SecretTemplate{Data: map[string]string{
			"new": "{{ .key }}", "old": `{{ get .previous "new" | default .key }}`}}},
	}}
	operator.Create(t, env.Client, es)
	es = synced(t, es, "")
	for i, value := range []string{"key-2", "key-3"} {
		setStoreData(t, store, vfv1alpha1.FakeProviderData{Key: "k", Value: value})
		es = synced(t, es, es.Status.CurrentSecretName)
		if got := stringData(getSecret(t, ns, es.Status.CurrentSecretName)); got["new"] != value || got["old"] != []string{"key-1", "key-2"}[i] {
			t.Fatalf("after rotating to %s: %v", value, got)
		}
	}
	rotated := es.Status.CurrentSecretName
	for range 2 {
		operator.ForceSync(t, env.Client, es)
		if es = synced(t, es, ""); es.Status.CurrentSecretName != rotated {
			t.Fatalf("a refresh of the same value made version %s (was %s)", es.Status.CurrentSecretName, rotated)
		}
	}
}

// Values stored base64-encoded are decoded per item.
func TestDecodingStrategy(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	raw := []byte{0xff, 0x00, 'k', 'e', 'y'}
	readyStore(t, ns, "store",
		vfv1alpha1.FakeProviderData{Key: "bin", Value: base64.StdEncoding.EncodeToString(raw)},
		vfv1alpha1.FakeProviderData{Key: "obj", Value: mustJSON(map[string]string{"a": base64.RawURLEncoding.EncodeToString([]byte("url?>")), "b": "plain text!"})})
	es := &vfv1alpha1.ExternalSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "decode"}, Spec: vfv1alpha1.ExternalSecretSpec{
		SecretStoreRef: vfv1alpha1.SecretStoreRef{Name: "store"},
		Data:           []vfv1alpha1.ExternalSecretData{{SecretKey: "bin", RemoteRef: vfv1alpha1.RemoteRef{Key: "bin", DecodingStrategy: vfv1alpha1.DecodeBase64}}},
		DataFrom:       []vfv1alpha1.ExternalSecretDataFrom{{Extract: &vfv1alpha1.RemoteRef{Key: "obj", DecodingStrategy: vfv1alpha1.DecodeAuto}}},
	}}
	operator.Create(t, env.Client, es)
	es = synced(t, es, "")
	if diff := cmp.Diff(map[string][]byte{"bin": raw, "a": []byte("url?>"), "b": []byte("plain text!")},
		getSecret(t, ns, es.Status.CurrentSecretName).Data); diff != "" {
		t.Errorf("decoded data:\n%s", diff)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The README's template examples are lines of the samples the test above syncs.
func TestREADMETemplatesAreTheSamples(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	samples, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "templates", "templates.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, _ := strings.Cut(string(readme), "<!-- template-examples:begin -->")
	block, _, _ = strings.Cut(block, "<!-- template-examples:end -->")
	lines := 0
	for _, line := range strings.Split(block, "\n") {
		if !strings.HasPrefix(line, "        ") {
			continue // fences and comments
		}
		lines++
		if !strings.Contains(string(samples), line+"\n") {
			t.Errorf("README line is not in config/samples/templates/templates.yaml:\n%s", line)
		}
	}
	if lines < 8 {
		t.Errorf("found %d example lines in the README", lines)
	}
}
