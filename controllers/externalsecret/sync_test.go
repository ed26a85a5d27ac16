package externalsecret_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/prometheus/client_golang/prometheus"
	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/controllers/metrics"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

const (
	valueV1 = "s3cr3t-value-one-7Qx"
	valueV2 = "s3cr3t-value-two-9Lk"
)

func TestCreateRotateAndRevertMakeVersions(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	store := readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"`+valueV1+`"}`)...)
	es := fixtures.ExternalSecret(ns, "db", fixtures.WithTarget("db-creds"))
	operator.Create(t, env.Client, es)

	es = synced(t, es, "")
	first := es.Status.CurrentSecretName
	if !strings.HasPrefix(first, "db-creds-") || len(first) != len("db-creds-")+10 {
		t.Fatalf("current version %q is not <target>-<10 character hash>", first)
	}
	s := getSecret(t, ns, first)
	if diff := cmp.Diff(map[string][]byte{"password": []byte(valueV1)}, s.Data); diff != "" {
		t.Fatalf("version data (-want +got):\n%s", diff)
	}
	if s.Immutable == nil || !*s.Immutable {
		t.Errorf("version is not immutable")
	}
	if !metav1.IsControlledBy(s, es) {
		t.Errorf("version is not controlled by the ExternalSecret: %+v", s.OwnerReferences)
	}
	if s.Labels[vfv1alpha1.ManagedLabel] != "true" || s.Labels[vfv1alpha1.ExternalSecretLabel] != "db" {
		t.Errorf("version labels = %v", s.Labels)
	}
	if s.Annotations[vfv1alpha1.RevisionAnnotation] != "1" || es.Status.Revision != 1 {
		t.Errorf("revision = %q (status %d), want 1", s.Annotations[vfv1alpha1.RevisionAnnotation], es.Status.Revision)
	}
	// The first version is announced by Ready, not by an event (a cold sync
	// of many ExternalSecrets would write one each).
	if ready := operator.Condition(es.Status.Conditions, vfv1alpha1.ReadyCondition); !strings.Contains(ready.Message, first) {
		t.Errorf("Ready says %q, want it to name %s", ready.Message, first)
	}
	for _, ev := range operator.Events(t, env.Client, ns, "db") {
		if ev.Reason == vfv1alpha1.VersionCreatedReason {
			t.Errorf("event for the first version: %s", ev.Note)
		}
	}

	// Rotation in the source gives a second version; the first is kept.
	setStoreData(t, store, fixtures.FakeData("db", `{"password":"`+valueV2+`"}`)...)
	operator.ForceSync(t, env.Client, es)
	es = synced(t, es, first)
	second := es.Status.CurrentSecretName
	if ev := operator.WaitForEvent(t, env.Client, ns, "db", vfv1alpha1.VersionCreatedReason); !strings.Contains(ev.Note, second) {
		t.Errorf("VersionCreated event %q does not name %s", ev.Note, second)
	}
	if got := getSecret(t, ns, second).Data["password"]; string(got) != valueV2 {
		t.Fatalf("second version holds %q, want the rotated value", got)
	}
	if got := slices.Sorted(maps.Keys(versions(t, ns, "db"))); !slices.Equal(got, slices.Sorted(slices.Values([]string{first, second}))) {
		t.Fatalf("versions = %v, want both %s and %s", got, first, second)
	}
	if len(es.Status.Versions) != 2 || es.Status.Versions[0].Name != second || es.Status.Versions[1].SupersededAt == nil {
		t.Errorf("status.versions = %+v, want [%s current, %s superseded]", es.Status.Versions, second, first)
	}

	// Reverting reuses the first version's name: no third object.
	setStoreData(t, store, fixtures.FakeData("db", `{"password":"`+valueV1+`"}`)...)
	operator.ForceSync(t, env.Client, es)
	es = synced(t, es, second)
	if es.Status.CurrentSecretName != first {
		t.Fatalf("after revert current = %s, want the first version %s again", es.Status.CurrentSecretName, first)
	}
	if n := len(versions(t, ns, "db")); n != 2 {
		t.Fatalf("after revert there are %d versions, want 2", n)
	}
	if rev := getSecret(t, ns, first).Annotations[vfv1alpha1.RevisionAnnotation]; rev != "3" || es.Status.Revision != 3 {
		t.Errorf("reverted-to version revision = %q (status %d), want 3: revisions must stay monotonic", rev, es.Status.Revision)
	}
	operator.AssertNoLeak(t, env.Client, ns, valueV1, valueV2)
}

func TestVersionInUseOutlivesHistoryLimit(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	store := readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"p1"}`)...)
	es := fixtures.ExternalSecret(ns, "app", fixtures.WithHistory(1))
	operator.Create(t, env.Client, es)
	first := synced(t, es, "").Status.CurrentSecretName

	pod := podUsing(ns, "uses-first", first)
	deployment := deploymentUsing(ns, "web", first)
	operator.Create(t, env.Client, pod, deployment)

	setStoreData(t, store, fixtures.FakeData("db", `{"password":"p2"}`)...)
	operator.ForceSync(t, env.Client, es)
	second := synced(t, es, first).Status.CurrentSecretName

	// history.limit 1 keeps only the current version, but the pod and the
	// deployment still use the first: it must stay.
	setStoreData(t, store, fixtures.FakeData("db", `{"password":"p3"}`)...)
	operator.ForceSync(t, env.Client, es)
	third := synced(t, es, second).Status.CurrentSecretName
	operator.WaitFor(t, env.Client, es, "the unused second version pruned", func(es *vfv1alpha1.ExternalSecret) bool {
		_, kept := versions(t, ns, "app")[second]
		return !kept
	})
	if _, ok := versions(t, ns, "app")[first]; !ok {
		t.Fatalf("version %s was deleted while a pod and a deployment referenced it", first)
	}
	operator.WaitForEvent(t, env.Client, ns, "app", vfv1alpha1.VersionPrunedReason)

	// The deployment alone still holds it, across several in-use rechecks.
	if err := env.Client.Delete(context.Background(), pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * inUseRecheck)
	if _, ok := versions(t, ns, "app")[first]; !ok {
		t.Fatalf("version %s deleted while a deployment's pod template still references it", first)
	}
	// Once nothing references it, it is collected.
	if err := env.Client.Delete(context.Background(), deployment); err != nil {
		t.Fatal(err)
	}
	operator.WaitFor(t, env.Client, es, "the first version collected", func(es *vfv1alpha1.ExternalSecret) bool {
		_, kept := versions(t, ns, "app")[first]
		return !kept && len(es.Status.Versions) == 1 && es.Status.Versions[0].Name == third
	})
}

func TestMutableTargetIsRewrittenInPlace(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	store := readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"m1"}`)...)
	es := fixtures.ExternalSecret(ns, "plain", fixtures.WithMutableTarget())
	operator.Create(t, env.Client, es)
	if got := synced(t, es, "").Status.CurrentSecretName; got != "plain" {
		t.Fatalf("mutable target name = %q, want the ExternalSecret name", got)
	}
	setStoreData(t, store, fixtures.FakeData("db", `{"password":"m2"}`)...)
	operator.ForceSync(t, env.Client, es)
	operator.WaitFor(t, env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plain"}}, "rewritten data",
		func(s *corev1.Secret) bool { return string(s.Data["password"]) == "m2" })
	if n := len(versions(t, ns, "plain")); n != 1 {
		t.Fatalf("mutable target has %d Secrets, want 1", n)
	}
}

func TestDeletionPolicy(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"d1"}`)...)
	keep := fixtures.ExternalSecret(ns, "keep", fixtures.WithDeletionPolicy(vfv1alpha1.DeletionPolicyRetain))
	drop := fixtures.ExternalSecret(ns, "drop")
	operator.Create(t, env.Client, keep, drop)
	kept := synced(t, keep, "").Status.CurrentSecretName
	dropped := synced(t, drop, "").Status.CurrentSecretName

	for _, es := range []*vfv1alpha1.ExternalSecret{keep, drop} {
		if err := env.Client.Delete(context.Background(), es); err != nil {
			t.Fatal(err)
		}
	}
	// Retain: the finalizer releases the version from its owner, so the
	// garbage collector leaves it.
	s := operator.WaitFor(t, env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kept}}, "released owner",
		func(s *corev1.Secret) bool { return len(s.OwnerReferences) == 0 })
	if string(s.Data["password"]) != "d1" {
		t.Errorf("retained version lost its data")
	}
	// Delete: the version stays controlled by the deleted ExternalSecret, so the
	// garbage collector (absent in envtest; see test/gitops) removes it with
	// its owner.
	if s := getSecret(t, ns, dropped); len(s.OwnerReferences) != 1 || !*s.OwnerReferences[0].Controller {
		t.Errorf("Delete-policy version owner references = %+v, want the ExternalSecret as controller", s.OwnerReferences)
	}
}

// A version being deleted (by hand here; by the garbage collector after its
// ExternalSecret, in test/gitops) stays while a Pod holds it or a pod
// template names it, and goes when none does; one nothing uses goes at once.
func TestDeletedVersionStaysWhileInUse(t *testing.T) {
	start(t)
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	store := readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"u0"}`)...)
	es := fixtures.ExternalSecret(ns, "app", fixtures.WithHistory(4))
	operator.Create(t, env.Client, es)
	var versions []string
	for i := range 4 {
		if i > 0 {
			setStoreData(t, store, fixtures.FakeData("db", fmt.Sprintf(`{"password":"u%d"}`, i))...)
			operator.ForceSync(t, env.Client, es)
		}
		versions = append(versions, synced(t, es, strings.Join(versions[max(len(versions)-1, 0):], "")).Status.CurrentSecretName)
	}
	for _, name := range versions {
		if s := getSecret(t, ns, name); !slices.Contains(s.Finalizers, vfv1alpha1.ProtectionFinalizer) {
			t.Errorf("version %s finalizers = %v, want %s", name, s.Finalizers, vfv1alpha1.ProtectionFinalizer)
		}
	}
	heldByPod, namedByTemplate, unused := versions[0], versions[1], versions[2]

	pod := podUsing(ns, "uses-first", heldByPod)
	web := deploymentUsing(ns, "web", namedByTemplate)
	operator.Create(t, env.Client, pod, web)
	for _, name := range []string{heldByPod, namedByTemplate, unused} {
		if err := env.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	operator.WaitGone(t, env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: unused}})
	operator.WaitForEvent(t, env.Client, ns, heldByPod, vfv1alpha1.VersionInUseReason)
	for _, name := range []string{heldByPod, namedByTemplate} {
		if got := string(getSecret(t, ns, name).Data["password"]); got == "" {
			t.Errorf("version %s in use lost its data", name)
		}
	}

	// The Pod goes: its version goes; the Deployment still names the other.
	if err := env.Client.Delete(ctx, pod); err != nil {
		t.Fatal(err)
	}
	operator.WaitGone(t, env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: heldByPod}})
	if getSecret(t, ns, namedByTemplate).Name != namedByTemplate {
		t.Fatalf("version %s deleted while a Deployment names it", namedByTemplate)
	}
	if err := env.Client.Delete(ctx, web); err != nil {
		t.Fatal(err)
	}
	operator.WaitGone(t, env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: namedByTemplate}})
}

// Versions written before the protection existed get it at the next
// reconcile, so an upgrade protects them too.
func TestVersionsWrittenBeforeProtectionGetIt(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"o1"}`)...)
	es := fixtures.ExternalSecret(ns, "old")
	operator.Create(t, env.Client, es)
	version := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: synced(t, es, "").Status.CurrentSecretName}}
	update(t, version, func(s *corev1.Secret) { s.Finalizers = nil })
	operator.ForceSync(t, env.Client, es)
	operator.WaitFor(t, env.Client, version, "protected again", func(s *corev1.Secret) bool {
		return slices.Contains(s.Finalizers, vfv1alpha1.ProtectionFinalizer)
	})
}

func podUsing(namespace, name, secret string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       podSpecUsing(secret),
	}
}

func deploymentUsing(namespace, name, secret string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpecUsing(secret)},
		},
	}
}

func podSpecUsing(secret string) corev1.PodSpec {
	return corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: "app", Image: "example.invalid/app",
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}}},
		}},
	}
}

// The operator caches only its own Secrets, so its memory does not grow with
// the other Secrets in the cluster.
func TestSecretCacheHoldsOnlyManagedSecrets(t *testing.T) {
	run, _ := start(t)
	ns := env.Namespace(t, nil)
	readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"c1"}`)...)
	unrelated := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unrelated"}, StringData: map[string]string{"k": "v"}}
	es := fixtures.ExternalSecret(ns, "app")
	operator.Create(t, env.Client, unrelated, es)
	current := synced(t, es, "").Status.CurrentSecretName

	cached := &corev1.SecretList{}
	if err := run.Cached.List(context.Background(), cached, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range cached.Items {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{current}) {
		t.Fatalf("the operator's cache holds Secrets %v, want only its version %s", names, current)
	}
}

// Every ExternalSecret keeps refreshing on its interval: none drops out of
// the schedule (an early, jittered wake-up once chased its deadline until a
// requeue of zero was returned, and the object was never refreshed again).
// Refreshes that find the same data write nothing: they are counted in the
// metrics, and the ExternalSecrets' resourceVersions do not move.
func TestPeriodicRefreshNeverStopsAndWritesNothing(t *testing.T) {
	testenv.Require(t, env)
	reg := prometheus.NewRegistry()
	operator.Start(t, env, controllers.Config{Registry: providers.MustNewRegistry(fake.New()), Metrics: metrics.New(reg)})
	ns := env.Namespace(t, nil)
	readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"`+valueV1+`"}`)...)
	const count, refreshes = 10, 4
	versions := map[string]string{}
	for i := range count {
		es := fixtures.ExternalSecret(ns, fmt.Sprintf("db-%d", i), fixtures.WithRefresh(2*time.Second))
		operator.Create(t, env.Client, es)
		versions[es.Name] = synced(t, es, "").ResourceVersion
	}
	deadline := time.Now().Add(time.Minute)
	for {
		behind := 0
		for name := range versions {
			if operator.MetricValue(t, reg, "vaultferry_sync_total", map[string]string{"namespace": ns, "name": name, "result": "Synced"}) < refreshes {
				behind++
			}
		}
		if behind == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a minute %d of %d ExternalSecrets refreshing every 2s had synced fewer than %d times", behind, count, refreshes)
		}
		time.Sleep(100 * time.Millisecond)
	}
	list := &vfv1alpha1.ExternalSecretList{}
	if err := env.Client.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, es := range list.Items {
		if es.ResourceVersion != versions[es.Name] {
			t.Errorf("%s was written by refreshes that found the same data (resourceVersion %s, was %s): %+v", es.Name, es.ResourceVersion, versions[es.Name], es.Status)
		}
	}
}
