package externalsecret_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/controllers/metrics"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// One namespace hammering a shared ClusterSecretStore (20 new
// ExternalSecrets against a limit of 2 reads a second) does not delay another
// namespace's new ExternalSecret behind its queue: each namespace gets a
// share of the store's rate, and over-share reads free their worker.
func TestSharedStoreIsShared(t *testing.T) {
	testenv.Require(t, env)
	operator.Start(t, env, controllers.Config{Registry: providers.MustNewRegistry(fake.New()), SyncConcurrency: 10})
	noisy, quiet := env.Namespace(t, nil), env.Namespace(t, nil)
	var data []vfv1alpha1.FakeProviderData
	for i := range 21 {
		data = append(data, fixtures.FakeData(fmt.Sprintf("key-%d", i), `{"password":"p"}`)...)
	}
	store := fixtures.FakeClusterStore("shared-"+noisy, nil, data...)
	store.Spec.RateLimit = &vfv1alpha1.RateLimit{QPS: 2, Burst: 1}
	operator.Create(t, env.Client, store)
	useShared := fixtures.WithStore(vfv1alpha1.ClusterSecretStoreKind, store.Name)

	var hammering []*vfv1alpha1.ExternalSecret
	for i := range 20 {
		es := fixtures.ExternalSecret(noisy, fmt.Sprintf("es-%d", i), useShared, fixtures.WithData("password", fmt.Sprintf("key-%d", i), "password"))
		operator.Create(t, env.Client, es)
		hammering = append(hammering, es)
	}
	syncedCount := func() int {
		n := 0
		for _, es := range hammering {
			got := &vfv1alpha1.ExternalSecret{}
			if env.Client.Get(context.Background(), client.ObjectKeyFromObject(es), got) == nil && got.Status.CurrentSecretName != "" {
				n++
			}
		}
		return n
	}
	operator.WaitFor(t, env.Client, hammering[0], "the noisy namespace under way", func(*vfv1alpha1.ExternalSecret) bool { return syncedCount() >= 2 })

	newcomer := fixtures.ExternalSecret(quiet, "db", useShared, fixtures.WithData("password", "key-20", "password"))
	operator.Create(t, env.Client, newcomer)
	synced(t, newcomer, "")
	if n := syncedCount(); n > 12 {
		t.Errorf("the quiet namespace synced only after %d of the noisy namespace's 20 ExternalSecrets", n)
	}
	operator.WaitFor(t, env.Client, hammering[0], "every noisy ExternalSecret synced in the end", func(*vfv1alpha1.ExternalSecret) bool { return syncedCount() == 20 })
}

// A refreshInterval below the operator's minimum is raised to it.
func TestMinimumRefreshInterval(t *testing.T) {
	testenv.Require(t, env)
	log := &keyLog{}
	operator.Start(t, env, controllers.Config{Registry: providers.MustNewRegistry(fake.New(fake.WithHook(log.hook))), MinRefreshInterval: time.Hour})
	ns := env.Namespace(t, nil)
	readyStore(t, ns, "store", fixtures.FakeData("min-refresh-"+ns, `{"password":"p"}`)...)
	es := fixtures.ExternalSecret(ns, "db", fixtures.WithRefresh(10*time.Millisecond), fixtures.WithData("password", "min-refresh-"+ns, "password"))
	operator.Create(t, env.Client, es)
	synced(t, es, "")
	time.Sleep(3 * time.Second) // 300 refreshes at 10ms
	if n := log.asked("min-refresh-" + ns); n != 1 {
		t.Errorf("%d reads in 3s with refreshInterval 10ms and a minimum of 1h, want 1", n)
	}
}

// A failure of the Kubernetes API (here an admission policy refusing the
// version) is reported as such, not as a vault failure, and its retries do
// not read the vault again while the fetched data is fresh.
func TestKubernetesFailuresAreNotVaultFailures(t *testing.T) {
	testenv.Require(t, env)
	reg := prometheus.NewRegistry()
	log := &keyLog{}
	operator.Start(t, env, controllers.Config{Registry: providers.MustNewRegistry(fake.New(fake.WithHook(log.hook))), Metrics: metrics.New(reg)})
	ns := env.Namespace(t, nil)
	key := "quota-" + ns
	readyStore(t, ns, "store", fixtures.FakeData(key, `{"password":"p"}`)...)
	unblock := refuseSecrets(t, ns)
	es := fixtures.ExternalSecret(ns, "db", fixtures.WithData("password", key, "password"))
	operator.Create(t, env.Client, es)

	got := operator.WaitForReason(t, env.Client, es, metav1.ConditionFalse, vfv1alpha1.KubernetesAPIErrorReason)
	if msg := operator.Condition(got.Status.Conditions, vfv1alpha1.ReadyCondition).Message; !strings.Contains(msg, "creating version") {
		t.Errorf("the condition does not say what failed: %s", msg)
	}
	time.Sleep(10 * time.Second) // retries back off 1s, 2s, 4s, ...: past the 5s read-sharing window
	if n := log.asked(key); n != 1 {
		t.Errorf("%d vault reads while the API server refused the version, want 1", n)
	}
	if n := len(operator.MatchingSeries(t, reg, "vaultferry_sync_total", map[string]string{"namespace": ns, "result": vfv1alpha1.KubernetesAPIErrorReason})); n != 1 {
		t.Errorf("no sync counted as KubernetesAPIError")
	}
	if n := len(operator.MatchingSeries(t, reg, "vaultferry_sync_total", map[string]string{"namespace": ns, "result": vfv1alpha1.ProviderErrorReason})); n != 0 {
		t.Errorf("the API server's refusal counted as a provider error")
	}

	unblock()
	if got := operator.SyncedValue(t, env.Client, es, "password"); got != "p" {
		t.Fatalf("synced %q", got)
	}
	if n := log.asked(key); n != 1 {
		t.Errorf("%d vault reads in all, want 1: the retry wrote what was fetched", n)
	}
}

// refuseSecrets makes the API server refuse every new Secret in namespace,
// with a ValidatingAdmissionPolicy, until the returned function is called.
func refuseSecrets(t *testing.T, namespace string) (unblock func()) {
	t.Helper()
	forbidden := metav1.StatusReasonForbidden
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "refuse-secrets-" + namespace},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"secrets"}}}}}},
			Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: "Secrets are refused in this namespace (test)", Reason: &forbidden}},
		}}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": namespace}}}}}
	operator.Create(t, env.Client, policy, binding)
	probe := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, GenerateName: "probe-"}}
	deadline := time.Now().Add(operator.Timeout)
	for env.Client.Create(context.Background(), probe.DeepCopy()) == nil { // the policy takes a moment to apply
		if time.Now().After(deadline) {
			t.Fatal("the admission policy never refused a Secret")
		}
		time.Sleep(200 * time.Millisecond)
	}
	return func() {
		if err := env.Client.Delete(context.Background(), binding); err != nil {
			t.Fatal(err)
		}
	}
}

// Editing a store (here its rate limit) keeps its ExternalSecrets served
// with the last good validation: none of them fails, warns or stops.
func TestStoreEditDoesNotInterruptItsExternalSecrets(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	store := readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"p"}`)...)
	var all []*vfv1alpha1.ExternalSecret
	for i := range 5 {
		es := fixtures.ExternalSecret(ns, fmt.Sprintf("es-%d", i))
		operator.Create(t, env.Client, es)
		synced(t, es, "")
		all = append(all, es)
	}
	update(t, store, func(s *vfv1alpha1.SecretStore) { s.Spec.RateLimit = &vfv1alpha1.RateLimit{QPS: 50, Burst: 50} })
	for _, es := range all {
		operator.WaitFor(t, env.Client, es, "a refresh through the edited store", func(es *vfv1alpha1.ExternalSecret) bool {
			return es.Status.StoreGeneration == store.Generation && operator.HasReason(es.Status.Conditions, metav1.ConditionTrue, vfv1alpha1.SyncedReason)
		})
	}
	for _, es := range all {
		for _, e := range operator.Events(t, env.Client, ns, es.Name) {
			if e.Type == corev1.EventTypeWarning {
				t.Errorf("%s: warning %s after a store edit: %s", es.Name, e.Reason, e.Note)
			}
		}
	}
}

// A TargetConflict clears by itself once the conflicting Secret is gone.
func TestTargetConflictClearsWhenTheSecretGoes(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"p"}`)...)
	taken := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}, StringData: map[string]string{"owner": "someone else"}}
	operator.Create(t, env.Client, taken)
	es := fixtures.ExternalSecret(ns, "app", fixtures.WithMutableTarget())
	operator.Create(t, env.Client, es)
	operator.WaitForReason(t, env.Client, es, metav1.ConditionFalse, vfv1alpha1.TargetConflictReason)
	if err := env.Client.Delete(context.Background(), taken); err != nil {
		t.Fatal(err)
	}
	if got := operator.SyncedValue(t, env.Client, es, "password"); got != "p" {
		t.Fatalf("synced %q", got)
	}
}

// Tenant mistakes (a wrong store name or kind, a template typo, a key
// outside allowedKeys) are logged at info level with the reason, never as
// operator errors, and their conditions say how to fix them.
func TestTenantMistakesAreNotOperatorErrors(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"p"}`)...)
	cluster := fixtures.FakeClusterStore("mistakes-"+ns, nil, fixtures.FakeData("db", `{"password":"p"}`)...)
	operator.Create(t, env.Client, cluster)
	cases := map[string]struct {
		es     *vfv1alpha1.ExternalSecret
		reason string
		hint   string
	}{
		"mistake-kind": {fixtures.ExternalSecret(ns, "mistake-kind", fixtures.WithStore(vfv1alpha1.SecretStoreKind, cluster.Name)),
			vfv1alpha1.StoreNotFoundReason, "a ClusterSecretStore \"" + cluster.Name + "\" exists: set secretStoreRef.kind: ClusterSecretStore"},
		"mistake-typo": {fixtures.ExternalSecret(ns, "mistake-typo", fixtures.WithTemplate(map[string]string{"dsn": "{{ .pasword }}"})),
			vfv1alpha1.InvalidTemplateReason, `no value named "pasword"; the values are named: password`},
	}
	for name, tc := range cases {
		operator.Create(t, env.Client, tc.es)
		got := operator.WaitForReason(t, env.Client, tc.es, metav1.ConditionFalse, tc.reason)
		if msg := operator.Condition(got.Status.Conditions, vfv1alpha1.ReadyCondition).Message; !strings.Contains(msg, tc.hint) {
			t.Errorf("%s: the condition does not say %q: %s", name, tc.hint, msg)
		}
	}
	time.Sleep(2 * time.Second) // let any error log of the failed reconciles land
	for _, line := range strings.Split(operator.CapturedLogs(), "\n") {
		for name := range cases {
			if strings.Contains(line, name) && strings.Contains(line, "ERROR") {
				t.Errorf("a tenant mistake logged as an error: %s", line)
			}
		}
	}
}
