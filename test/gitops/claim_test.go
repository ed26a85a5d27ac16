package gitops

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
)

// The ExternalSecret that first holds a target keeps it. Another naming
// the same target in the namespace (a name that sorts first, re-created,
// mutable, or aimed at a ClusterExternalSecret's target) gets
// TargetConflict naming the holder, writes no version and never changes what
// Pods naming the target get; once the holder is deleted, the next claimant
// takes the target.
func TestFirstClaimHoldsTheTarget(t *testing.T) {
	start(t)
	ctx := context.Background()
	ns := env.Namespace(t, map[string]string{"pull-secrets": "yes"})
	operator.ReadyFakeStore(t, env.Client, ns, "store",
		vfv1alpha1.FakeProviderData{Key: "db", Value: `{"password":"platform"}`},
		vfv1alpha1.FakeProviderData{Key: "evil", Value: `{"password":"attacker"}`})
	fromStore := fixtures.WithStore(vfv1alpha1.SecretStoreKind, "store")
	holder := fixtures.ExternalSecret(ns, "db", fromStore, fixtures.WithTarget("db"))
	operator.Create(t, env.Client, holder)
	held := operator.WaitSynced(t, env.Client, holder, "").Status.CurrentSecretName

	podGets := func(target string) string {
		t.Helper()
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "app-"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "app:1"}},
			Volumes:    []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: target}}}},
		}}
		if err := env.Client.Create(ctx, pod); err != nil {
			t.Fatalf("creating a Pod naming %s: %v", target, err)
		}
		return pod.Spec.Volumes[0].Secret.SecretName
	}
	if got := podGets("db"); got != held {
		t.Fatalf("a Pod naming db got %s, want %s", got, held)
	}

	aaa := func(opts ...fixtures.ExternalSecretOption) *vfv1alpha1.ExternalSecret {
		return fixtures.ExternalSecret(ns, "aaa", append([]fixtures.ExternalSecretOption{fromStore, fixtures.WithTarget("db"), fixtures.WithData("password", "evil", "password")}, opts...)...)
	}
	assertConflict := func(es *vfv1alpha1.ExternalSecret, holder string) {
		t.Helper()
		got := operator.WaitForReason(t, env.Client, es, metav1.ConditionFalse, vfv1alpha1.TargetConflictReason)
		if msg := operator.Condition(got.Status.Conditions, vfv1alpha1.ReadyCondition).Message; !strings.Contains(msg, `held by ExternalSecret "`+holder+`"`) {
			t.Errorf("%s: condition %q does not name the holder %s", es.Name, msg, holder)
		}
		if list := versionsOf(t, ns, es.Name); len(list) > 0 {
			t.Errorf("%s wrote versions %v", es.Name, list)
		}
	}
	// A newcomer whose name sorts first, then the same re-created.
	for _, attempt := range []string{"created", "re-created"} {
		es := aaa()
		operator.Create(t, env.Client, es)
		assertConflict(es, "db")
		if got := podGets("db"); got != held {
			t.Fatalf("%s newcomer: a Pod naming db got %s, want %s", attempt, got, held)
		}
		if attempt == "created" {
			if err := env.Client.Delete(ctx, es); err != nil {
				t.Fatal(err)
			}
			operator.WaitGone(t, env.Client, es)
		}
	}
	// A mutable newcomer would write the Secret named db itself.
	mutable := fixtures.ExternalSecret(ns, "aab", fromStore, fixtures.WithTarget("db"), fixtures.WithData("password", "evil", "password"), fixtures.WithMutableTarget())
	operator.Create(t, env.Client, mutable)
	assertConflict(mutable, "db")
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "db"}, &corev1.Secret{}); err == nil {
		t.Error("the mutable newcomer wrote Secret db")
	}

	// A ClusterExternalSecret's target in a tenant namespace.
	ces := &vfv1alpha1.ClusterExternalSecret{ObjectMeta: metav1.ObjectMeta{Name: "pull-" + ns}, Spec: vfv1alpha1.ClusterExternalSecretSpec{
		ExternalSecretName: "pull", NamespaceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"pull-secrets": "yes"}}},
		ExternalSecretSpec: fixtures.ExternalSecret(ns, "x", fromStore, fixtures.WithTarget("pull"), fixtures.WithData("password", "db", "password")).Spec}}
	operator.Create(t, env.Client, ces)
	platform := &vfv1alpha1.ExternalSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pull"}}
	pull := operator.WaitSynced(t, env.Client, platform, "").Status.CurrentSecretName
	hijack := fixtures.ExternalSecret(ns, "a-pull", fromStore, fixtures.WithTarget("pull"), fixtures.WithData("password", "evil", "password"))
	operator.Create(t, env.Client, hijack)
	assertConflict(hijack, "pull")
	if got := podGets("pull"); got != pull {
		t.Errorf("a Pod naming the ClusterExternalSecret's target got %s, want %s", got, pull)
	}

	// The holder goes: the next claimant (aaa, created before aab) takes the target.
	if err := env.Client.Delete(ctx, holder); err != nil {
		t.Fatal(err)
	}
	next := operator.WaitSynced(t, env.Client, aaa(), "").Status.CurrentSecretName
	if string(operator.SecretData(t, env.Client, ns, next)["password"]) != "attacker" {
		t.Errorf("the next holder's version %s does not hold its content", next)
	}
	assertConflict(mutable, "aaa")
}

// versionsOf names the Secrets labelled as versions of the ExternalSecret.
func versionsOf(t *testing.T, namespace, es string) []string {
	t.Helper()
	list := &corev1.SecretList{}
	if err := env.Client.List(context.Background(), list, client.InNamespace(namespace), client.MatchingLabels{vfv1alpha1.ExternalSecretLabel: es}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range list.Items {
		names = append(names, s.Name)
	}
	return names
}
