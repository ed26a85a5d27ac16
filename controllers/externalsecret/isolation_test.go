package externalsecret_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// keyLog records every remote key the fake provider was asked for.
type keyLog struct {
	mu   sync.Mutex
	keys []string
}

func (l *keyLog) hook(_ context.Context, _ string, ref providers.Ref) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = append(l.keys, ref.Key)
	return nil
}

// asked counts provider requests for keys containing s.
func (l *keyLog) asked(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, k := range l.keys {
		if strings.Contains(k, s) {
			n++
		}
	}
	return n
}

// Escape attempts between tenants, with the operator holding only its
// shipped RBAC: each is refused with a clear reason, nothing is written and,
// where the store is involved, the provider is never called.
func TestTenantEscapesAreRefused(t *testing.T) {
	testenv.Require(t, env)
	log := &keyLog{}
	operator.StartWithShippedRBAC(t, env, controllers.Config{
		Registry: providers.MustNewRegistry(fake.New(fake.WithHook(log.hook))), StoreWait: inUseRecheck,
	})
	tenant := map[string]string{"tenant": "true"}
	a, b, outsider := env.Namespace(t, tenant), env.Namespace(t, tenant), env.Namespace(t, nil)
	store := fixtures.FakeClusterStore("shared-"+a, []vfv1alpha1.ClusterSecretStoreCondition{{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: tenant},
		AllowedKeys:       []string{"tenants/{namespace}/*"},
	}}, fixtures.FakeData("tenants/"+a+"/db", `{"password":"secret-of-a"}`, "tenants/"+b+"/db", `{"password":"secret-of-b"}`)...)
	bStore := fixtures.FakeStore(b, "b-store", fixtures.FakeData("db", `{"password":"secret-of-b"}`)...)
	operator.Create(t, env.Client, store, bStore)
	useShared := fixtures.WithStore(vfv1alpha1.ClusterSecretStoreKind, store.Name)

	legit := fixtures.ExternalSecret(a, "legit", useShared, fixtures.WithData("password", "tenants/"+a+"/db", "password"))
	operator.Create(t, env.Client, legit)
	legitVersion := synced(t, legit, "").Status.CurrentSecretName

	taken := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: a, Name: "taken"}, StringData: map[string]string{"owner": "someone else"}}
	operator.Create(t, env.Client, taken)

	cases := map[string]struct {
		es     *vfv1alpha1.ExternalSecret
		reason string
		key    string // a remote key that must never be requested
	}{
		"ExternalSecret naming another namespace's SecretStore": {
			es: fixtures.ExternalSecret(a, "other-ns-store", fixtures.WithStore(vfv1alpha1.SecretStoreKind, "b-store")), reason: vfv1alpha1.StoreNotFoundReason,
		},
		"namespace outside the ClusterSecretStore's conditions": {
			es:     fixtures.ExternalSecret(outsider, "outsider", useShared, fixtures.WithData("password", "tenants/"+b+"/db", "password")),
			reason: vfv1alpha1.ForbiddenReason, key: "tenants/" + b,
		},
		"another tenant's key": {
			es:     fixtures.ExternalSecret(a, "b-key", useShared, fixtures.WithData("password", "tenants/"+b+"/db", "password")),
			reason: vfv1alpha1.ForbiddenReason, key: "tenants/" + b,
		},
		"dot-dot escape": {
			es:     fixtures.ExternalSecret(a, "dotdot", useShared, fixtures.WithData("password", "tenants/"+a+"/../"+b+"/db", "password")),
			reason: vfv1alpha1.ForbiddenReason, key: "..",
		},
		"doubled slash": {
			es:     fixtures.ExternalSecret(a, "slashes", useShared, fixtures.WithData("password", "tenants//"+b+"/db", "password")),
			reason: vfv1alpha1.ForbiddenReason, key: "tenants//",
		},
		"URL-encoded segment": {
			es:     fixtures.ExternalSecret(a, "encoded", useShared, fixtures.WithData("password", "tenants/%"+fmt.Sprintf("%x", b[0])+b[1:]+"/db", "password")),
			reason: vfv1alpha1.ForbiddenReason, key: "%",
		},
		"a target name owned by someone else": {
			es:     fixtures.ExternalSecret(a, "conflict", useShared, fixtures.WithData("password", "tenants/"+a+"/db", "password"), fixtures.WithTarget("taken"), fixtures.WithMutableTarget()),
			reason: vfv1alpha1.TargetConflictReason,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			operator.Create(t, env.Client, tc.es)
			got := operator.WaitForReason(t, env.Client, tc.es, metav1.ConditionFalse, tc.reason)
			operator.WaitForEvent(t, env.Client, tc.es.Namespace, tc.es.Name, tc.reason)
			if got.Status.CurrentSecretName != "" || len(versions(t, tc.es.Namespace, tc.es.Name)) != 0 {
				t.Errorf("a Secret was written: %s", got.Status.CurrentSecretName)
			}
			if tc.key != "" && log.asked(tc.key) != 0 {
				t.Errorf("the provider was asked for %q", tc.key)
			}
		})
	}
	if s := getSecret(t, a, "taken"); string(s.Data["owner"]) != "someone else" || len(s.Labels) != 0 {
		t.Errorf("the conflicting Secret was modified: %+v", s)
	}

	// Removing the namespace's label expels it: syncs stop, the version stays.
	ns := &corev1.Namespace{}
	ns.Name = a
	update(t, ns, func(ns *corev1.Namespace) { delete(ns.Labels, "tenant") })
	got := operator.WaitForReason(t, env.Client, legit, metav1.ConditionFalse, vfv1alpha1.ForbiddenReason)
	if got.Status.CurrentSecretName != legitVersion {
		t.Errorf("current version moved")
	}
	if string(getSecret(t, a, legitVersion).Data["password"]) != "secret-of-a" {
		t.Errorf("the synced version changed")
	}
	operator.AssertNoLeak(t, env.Client, a, "secret-of-a", "secret-of-b")
}

func TestPlatformAdminFlags(t *testing.T) {
	testenv.Require(t, env)
	t.Run("--disable-cluster-stores refuses ExternalSecrets using one", func(t *testing.T) {
		run := operator.Start(t, env, controllers.Config{Registry: providers.MustNewRegistry(fake.New()), DisableClusterStores: true})
		defer run.Stop(t)
		ns := env.Namespace(t, nil)
		store := fixtures.FakeClusterStore("disabled-"+ns, nil, fixtures.FakeData("db", `{"password":"x"}`)...)
		es := fixtures.ExternalSecret(ns, "app", fixtures.WithStore(vfv1alpha1.ClusterSecretStoreKind, store.Name))
		operator.Create(t, env.Client, store, es)
		got := operator.WaitForReason(t, env.Client, es, metav1.ConditionFalse, vfv1alpha1.ForbiddenReason)
		if msg := operator.Condition(got.Status.Conditions, vfv1alpha1.ReadyCondition).Message; !strings.Contains(msg, "--disable-cluster-stores") {
			t.Errorf("message %q does not say why", msg)
		}
	})
	t.Run("--cluster-store-credentials-namespace confines credential reads", func(t *testing.T) {
		run := operator.Start(t, env, controllers.Config{Registry: providers.MustNewRegistry(fake.New()), ClusterStoreCredentialsNamespace: operator.Namespace})
		defer run.Stop(t)
		ns := env.Namespace(t, nil)
		credential := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "token"}, StringData: map[string]string{"token": "t"}}
		store := fixtures.FakeClusterStore("confined-"+ns, nil, fixtures.FakeData("db", `{"password":"x"}`)...)
		store.Spec.Provider.Fake.AuthSecretRef = &vfv1alpha1.SecretKeySelector{Name: "token", Key: "token", Namespace: ns}
		store.Spec.Provider.Fake.Token = "t"
		operator.Create(t, env.Client, credential, store)
		got := operator.WaitFor(t, env.Client, store, "Forbidden", func(s *vfv1alpha1.ClusterSecretStore) bool {
			return operator.HasReason(s.Status.Conditions, metav1.ConditionFalse, vfv1alpha1.ForbiddenReason)
		})
		if msg := operator.Condition(got.Status.Conditions, vfv1alpha1.ReadyCondition).Message; !strings.Contains(msg, "--cluster-store-credentials-namespace") {
			t.Errorf("message %q does not say why", msg)
		}
	})
}

// Sharding: an operator serves only its namespaces, by name or by label; the
// others' ExternalSecrets are left alone for another deployment.
func TestShardingFlagsLeaveOtherNamespacesAlone(t *testing.T) {
	testenv.Require(t, env)
	for name, shard := range map[string]func(mine string) controllers.Config{
		"--watch-namespaces": func(mine string) controllers.Config {
			return controllers.Config{Registry: providers.MustNewRegistry(fake.New()), WatchNamespaces: []string{mine, operator.Namespace}}
		},
		"--watch-label-selector": func(string) controllers.Config {
			return controllers.Config{Registry: providers.MustNewRegistry(fake.New()), WatchLabelSelector: labels.SelectorFromSet(labels.Set{"shard": "a"})}
		},
	} {
		t.Run(name, func(t *testing.T) {
			mine, theirs := env.Namespace(t, map[string]string{"shard": "a"}), env.Namespace(t, map[string]string{"shard": "b"})
			run := operator.Start(t, env, shard(mine))
			defer run.Stop(t)
			for _, ns := range []string{mine, theirs} {
				operator.Create(t, env.Client, fixtures.FakeStore(ns, "store", fixtures.FakeData("db", `{"password":"s"}`)...), fixtures.ExternalSecret(ns, "app"))
			}
			synced(t, fixtures.ExternalSecret(mine, "app"), "")
			time.Sleep(time.Second)
			other := fixtures.ExternalSecret(theirs, "app")
			if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(other), other); err != nil {
				t.Fatal(err)
			}
			if len(other.Status.Conditions) != 0 || len(versions(t, theirs, "app")) != 0 {
				t.Errorf("the operator touched another shard's ExternalSecret: %+v", other.Status)
			}
		})
	}
}
