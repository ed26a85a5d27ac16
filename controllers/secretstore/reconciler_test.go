package secretstore_test

import (
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

// Each store states whether it can be used, with a reason a platform admin
// can act on, and recovers when the cause is fixed.
func TestStoreReadiness(t *testing.T) {
	testenv.Require(t, env)
	operator.Start(t, env, controllers.Config{Registry: providers.MustNewRegistry(fake.New())})
	ns := env.Namespace(t, nil)

	withCredential := func(s *vfv1alpha1.SecretStore) *vfv1alpha1.SecretStore {
		s.Spec.Provider.Fake.AuthSecretRef = &vfv1alpha1.SecretKeySelector{Name: "fake-credential", Key: "token"}
		s.Spec.Provider.Fake.Token = "letmein"
		return s
	}
	cases := map[string]struct {
		store  client.Object
		status metav1.ConditionStatus
		reason string
	}{
		"a valid SecretStore": {
			store: fixtures.FakeStore(ns, "valid"), status: metav1.ConditionTrue, reason: vfv1alpha1.ValidatedReason,
		},
		"a valid ClusterSecretStore": {
			store: fixtures.FakeClusterStore("valid-"+ns, nil), status: metav1.ConditionTrue, reason: vfv1alpha1.ValidatedReason,
		},
		"credentials that do not exist": {
			store: withCredential(fixtures.FakeStore(ns, "no-credential")), status: metav1.ConditionFalse, reason: vfv1alpha1.ForbiddenReason,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if err := env.Client.Create(t.Context(), tc.store); err != nil {
				t.Fatal(err)
			}
			waitForReady(t, tc.store, tc.status, tc.reason)
			operator.WaitForEvent(t, env.Client, tc.store.GetNamespace(), tc.store.GetName(), tc.reason)
		})
	}

	// Creating the missing credential makes the store Ready on its next check.
	credential := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fake-credential"},
		Data:       map[string][]byte{"token": []byte("letmein")},
	}
	if err := env.Client.Create(t.Context(), credential); err != nil {
		t.Fatal(err)
	}
	waitForReady(t, cases["credentials that do not exist"].store, metav1.ConditionTrue, vfv1alpha1.ValidatedReason)
	operator.AssertNoLeak(t, env.Client, ns, "letmein")
}

func waitForReady(t *testing.T, store client.Object, status metav1.ConditionStatus, reason string) {
	t.Helper()
	operator.WaitFor(t, env.Client, store, "Ready="+string(status)+" "+reason, func(o client.Object) bool {
		return operator.HasReason(o.(vfv1alpha1.GenericStore).GetStatus().Conditions, status, reason)
	})
}

// A store reacts to its credential Secret at once, watched by name: deleted
// or broken, the store turns not Ready (rather than at its next recheck,
// minutes later), and restored, Ready again.
func TestStoreFollowsItsCredentialSecret(t *testing.T) {
	testenv.Require(t, env)
	operator.StartWithShippedRBAC(t, env, controllers.Config{Registry: providers.MustNewRegistry(fake.New())})
	ns := env.Namespace(t, nil)
	credential := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cred"}, Data: map[string][]byte{"token": []byte("letmein")}}
	operator.Create(t, env.Client, credential)
	store := fixtures.FakeStore(ns, "store")
	store.Spec.Provider.Fake.AuthSecretRef = &vfv1alpha1.SecretKeySelector{Name: "cred", Key: "token"}
	store.Spec.Provider.Fake.Token = "letmein"
	operator.Create(t, env.Client, store)
	waitForReady(t, store, metav1.ConditionTrue, vfv1alpha1.ValidatedReason)

	credential.Data["token"] = []byte("wrong")
	if err := env.Client.Update(t.Context(), credential); err != nil {
		t.Fatal(err)
	}
	waitForReady(t, store, metav1.ConditionFalse, vfv1alpha1.ForbiddenReason)

	if err := env.Client.Delete(t.Context(), credential); err != nil {
		t.Fatal(err)
	}
	operator.WaitFor(t, env.Client, store, "a message about the missing Secret", func(s *vfv1alpha1.SecretStore) bool {
		return strings.Contains(operator.Condition(s.Status.Conditions, vfv1alpha1.ReadyCondition).Message, "not found")
	})

	credential = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cred"}, Data: map[string][]byte{"token": []byte("letmein")}}
	operator.Create(t, env.Client, credential)
	waitForReady(t, store, metav1.ConditionTrue, vfv1alpha1.ValidatedReason)
}

// How open a ClusterSecretStore is shows in its status and in the Access
// column of kubectl get.
func TestClusterStoreShowsItsAccess(t *testing.T) {
	testenv.Require(t, env)
	operator.Start(t, env, controllers.Config{Registry: providers.MustNewRegistry(fake.New())})
	ns := env.Namespace(t, nil)
	for name, tc := range map[string]struct {
		conditions []vfv1alpha1.ClusterSecretStoreCondition
		want       string
	}{
		"open":               {nil, "all namespaces, all keys"},
		"tenants, own keys":  {[]vfv1alpha1.ClusterSecretStoreCondition{{NamespaceSelector: &metav1.LabelSelector{}, AllowedKeys: []string{"tenants/{namespace}/*"}}}, "all namespaces, selected keys"},
		"one team, any key":  {[]vfv1alpha1.ClusterSecretStoreCondition{{Namespaces: []string{"team-a"}}}, "selected namespaces, all keys"},
		"one team, its keys": {[]vfv1alpha1.ClusterSecretStoreCondition{{Namespaces: []string{"team-a"}, AllowedKeys: []string{"team-a/*"}}}, "selected namespaces, selected keys"},
	} {
		t.Run(name, func(t *testing.T) {
			store := fixtures.FakeClusterStore("access-"+strings.ReplaceAll(strings.ReplaceAll(name, " ", "-"), ",", "")+"-"+ns, tc.conditions)
			if err := env.Client.Create(t.Context(), store); err != nil {
				t.Fatal(err)
			}
			operator.WaitFor(t, env.Client, store, "status.access "+tc.want, func(s *vfv1alpha1.ClusterSecretStore) bool { return s.Status.Access == tc.want })
			if out := env.MustKubectl(t, "get", "clustersecretstores.vaultferry.io", store.Name); !strings.Contains(out, "ACCESS") || !strings.Contains(out, tc.want) {
				t.Errorf("kubectl get does not show the access:\n%s", out)
			}
		})
	}
}
