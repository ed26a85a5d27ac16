package admission

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/podrefs"
	"github.com/vaultferry/vaultferry/test/fixtures"
)

const (
	base    = "db-credentials"
	current = "db-credentials-7hk2m9t4bc"
	older   = "db-credentials-5c8f2k9d7h"
)

// syncedExternalSecret creates ExternalSecret "db" with target base, synced
// to current (older kept).
func syncedExternalSecret(t *testing.T, ctx context.Context, namespace string, opts ...fixtures.ExternalSecretOption) *vfv1alpha1.ExternalSecret {
	t.Helper()
	es := fixtures.ExternalSecret(namespace, "db", append([]fixtures.ExternalSecretOption{fixtures.WithTarget(base)}, opts...)...)
	if err := env.Client.Create(ctx, es); err != nil {
		t.Fatal(err)
	}
	if err := env.SetSynced(ctx, es, current, older); err != nil {
		t.Fatal(err)
	}
	return es
}

// everyReference is a Pod naming secret in every place a pod spec can, next
// to references to other Secrets that must stay as they are.
func everyReference(namespace, secret string) *corev1.Pod {
	keyRef := func(name string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: "password"}}
	}
	container := func(name string) corev1.Container {
		return corev1.Container{
			Name: name, Image: "registry.example/app:1",
			Env: []corev1.EnvVar{
				{Name: "PLAIN", Value: secret},
				{Name: "OTHER", ValueFrom: keyRef("unrelated")},
				{Name: "PASSWORD", ValueFrom: keyRef(secret)},
				{Name: "CONFIG", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "k"}}},
			},
			EnvFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}},
			},
		}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "every-reference"},
		Spec: corev1.PodSpec{
			InitContainers:   []corev1.Container{container("init")},
			Containers:       []corev1.Container{container("app"), container("sidecar")},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "unrelated"}, {Name: secret}},
			Volumes: []corev1.Volume{
				{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}}},
				{Name: "other", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "unrelated"}}},
				{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}},
				{Name: "projected", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}},
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "unrelated"}}},
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}},
				}}}},
			},
		},
	}
	return pod
}

// resolvedAs is what admission must make of in: every Secret reference to
// from names to, nothing else changes (by the shared reference walker).
func wantReferences(in *corev1.Pod, from, to string) []podrefs.Reference {
	refs := podrefs.SecretReferences(&in.Spec)
	for i := range refs {
		if refs[i].Name == from {
			refs[i].Name = to
		}
	}
	return refs
}

func assertReferences(t *testing.T, got *corev1.Pod, want []podrefs.Reference) {
	t.Helper()
	refs := podrefs.SecretReferences(&got.Spec)
	if len(refs) != len(want) {
		t.Fatalf("admitted Pod has %d Secret references, want %d:\n got %v\nwant %v", len(refs), len(want), refs, want)
	}
	wrong := 0
	for i := range want {
		if refs[i] != want[i] {
			if wrong++; wrong > 5 {
				t.Fatalf("and more")
			}
			t.Errorf("reference %d: got %s=%s, want %s=%s", i, refs[i].Path, refs[i].Name, want[i].Path, want[i].Name)
		}
	}
}

func TestPodReferencesResolveToTheCurrentVersion(t *testing.T) {
	policies(t)
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	syncedExternalSecret(t, ctx, ns)

	pod := everyReference(ns, base)
	want := wantReferences(pod, base, current)
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatalf("creating a Pod naming %s: %v", base, err)
	}
	assertReferences(t, pod, want)
	// Not a Secret reference: left alone.
	if pod.Spec.Volumes[0].ConfigMap.Name != base || pod.Spec.Containers[0].Env[0].Value != base || pod.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name != base {
		t.Errorf("a ConfigMap reference or a plain value named %s was changed", base)
	}
}

func TestPinSelectsTheVersion(t *testing.T) {
	policies(t)
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	es := syncedExternalSecret(t, ctx, ns)
	pin := podrefs.PinAnnotation(es.TargetBaseName())

	cases := []struct {
		name      string
		pin       string
		want      string
		refusedBy string
	}{
		{name: "pinned to an older version", pin: older, want: older},
		{name: "pinned to the current version", pin: current, want: current},
		{name: "pinned to a pruned version", pin: "db-credentials-gone000000", refusedBy: "is pinned to db-credentials-gone000000 by annotation " + pin + ", which is not a kept version of it (pruned or mistyped): remove the pin or set it to one of: " + current + ", " + older},
		{name: "pinned to another Secret", pin: "unrelated", refusedBy: "which is not a kept version of it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := everyReference(ns, base)
			pod.GenerateName, pod.Name = "pinned-", ""
			pod.Annotations = map[string]string{pin: tc.pin}
			err := env.Client.Create(ctx, pod)
			if tc.refusedBy != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refusedBy) {
					t.Fatalf("want the Pod refused with %q, got %v", tc.refusedBy, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertReferences(t, pod, wantReferences(everyReference(ns, base), base, tc.want))
		})
	}
}

func TestUnsyncedTargetRefusesThePodUntilItSyncs(t *testing.T) {
	policies(t)
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	es := fixtures.ExternalSecret(ns, "db", fixtures.WithTarget(base))
	if err := env.Client.Create(ctx, es); err != nil {
		t.Fatal(err)
	}
	indexed(t, es)

	err := env.Client.Create(ctx, everyReference(ns, base))
	want := "Secret db-credentials is managed by ExternalSecret db (Ready reason: not reconciled yet), which has no synced version yet; the Pod is admitted once it syncs"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("want the Pod refused with %q, got %v", want, err)
	}

	es.Status.Conditions = []metav1.Condition{{Type: vfv1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: vfv1alpha1.ProviderErrorReason, Message: "vault sealed", LastTransitionTime: metav1.Now()}}
	if err := env.Client.Status().Update(ctx, es); err != nil {
		t.Fatal(err)
	}
	indexed(t, es)
	err = env.Client.Create(ctx, everyReference(ns, base))
	if err == nil || !strings.Contains(err.Error(), "(Ready reason: ProviderError)") {
		t.Fatalf("want the refusal to carry the Ready reason ProviderError, got %v", err)
	}

	if err := env.SetSynced(ctx, es, current); err != nil {
		t.Fatal(err)
	}
	pod := everyReference(ns, base)
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatalf("Pod refused after the ExternalSecret synced: %v", err)
	}
	assertReferences(t, pod, wantReferences(everyReference(ns, base), base, current))
}

// Pods that reach no immutable target of their namespace are never changed
// or refused.
func TestReferencesOutsideTheTargetsAreLeftAlone(t *testing.T) {
	policies(t)
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	other := env.Namespace(t, nil)
	syncedExternalSecret(t, ctx, other) // same target name, another namespace

	mutable := fixtures.ExternalSecret(ns, "mutable", fixtures.WithTarget("plain"), fixtures.WithMutableTarget())
	if err := env.Client.Create(ctx, mutable); err != nil {
		t.Fatal(err)
	}
	if err := env.SetSynced(ctx, mutable, "plain"); err != nil {
		t.Fatal(err)
	}
	unsyncedMutable := fixtures.ExternalSecret(ns, "unsynced-mutable", fixtures.WithTarget("later"), fixtures.WithMutableTarget())
	if err := env.Client.Create(ctx, unsyncedMutable); err != nil {
		t.Fatal(err)
	}
	indexed(t, unsyncedMutable)
	syncedExternalSecret(t, ctx, ns, fixtures.WithTarget("near"))

	for _, secret := range []string{base, "plain", "later", "nearly", "near-x", "x-near", current} {
		pod := everyReference(ns, secret)
		pod.GenerateName, pod.Name = "untouched-", ""
		want := podrefs.SecretReferences(&pod.Spec)
		if err := env.Client.Create(ctx, pod); err != nil {
			t.Fatalf("Pod naming %s refused: %v", secret, err)
		}
		assertReferences(t, pod, want)
	}
}

func TestEphemeralContainersResolveToo(t *testing.T) {
	policies(t)
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	syncedExternalSecret(t, ctx, ns)

	pod := fixtures.PodUsingSecrets(ns, "debug-me", "unrelated")
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	debug := debugContainer("debug")
	debug.Env = []corev1.EnvVar{{Name: "P", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: base}, Key: "password"}}}}
	got := addEphemeralContainer(t, ctx, pod, debug)
	assertReferences(t, got, []podrefs.Reference{
		{Path: "/volumes/0/secret/secretName", Name: "unrelated"},
		{Path: "/ephemeralContainers/0/env/0/valueFrom/secretKeyRef/name", Name: current},
		{Path: "/ephemeralContainers/0/envFrom/0/secretRef/name", Name: current},
	})
}

// Before its first version, an ExternalSecret whose target name is held by
// a Secret vaultferry did not write lets Pods keep using that Secret.
func TestShadowedSecretServesUntilTheFirstVersion(t *testing.T) {
	policies(t)
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	es := shadowingExternalSecret(t, ctx, ns)
	pod := everyReference(ns, base)
	want := podrefs.SecretReferences(&pod.Spec)
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatalf("Pod naming the shadowed Secret refused: %v", err)
	}
	assertReferences(t, pod, want)

	es.Status.ShadowedSecret = ""
	if err := env.SetSynced(ctx, es, current); err != nil {
		t.Fatal(err)
	}
	pod = everyReference(ns, base)
	pod.Name = "after-sync"
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	assertReferences(t, pod, wantReferences(everyReference(ns, base), base, current))
}

// Ephemeral containers cannot change once added: one that named a target
// before it had a version (here: shadowed) keeps its reference, and adding
// another later resolves only the new one.
func TestEarlierEphemeralContainersAreLeftAsTheyAre(t *testing.T) {
	policies(t)
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	es := shadowingExternalSecret(t, ctx, ns)
	pod := fixtures.PodUsingSecrets(ns, "debug-me", "unrelated")
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod = addEphemeralContainer(t, ctx, pod, debugContainer("first")) // while the target is shadowed

	es.Status.ShadowedSecret = ""
	if err := env.SetSynced(ctx, es, current); err != nil {
		t.Fatal(err)
	}
	got := addEphemeralContainer(t, ctx, pod, debugContainer("second"))
	assertReferences(t, got, []podrefs.Reference{
		{Path: "/volumes/0/secret/secretName", Name: "unrelated"},
		{Path: "/ephemeralContainers/0/envFrom/0/secretRef/name", Name: base},
		{Path: "/ephemeralContainers/1/envFrom/0/secretRef/name", Name: current},
	})
}

// The TargetIndex is the operator's: edited or deleted, it is put back.
func TestTargetIndexIsRestored(t *testing.T) {
	policies(t)
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	es := syncedExternalSecret(t, ctx, ns)
	key := client.ObjectKey{Namespace: ns, Name: vfv1alpha1.TargetIndexName}

	index := &vfv1alpha1.TargetIndex{}
	if err := env.Client.Get(ctx, key, index); err != nil {
		t.Fatal(err)
	}
	index.Targets[base] = "unrelated"
	if err := env.Client.Update(ctx, index); err != nil {
		t.Fatal(err)
	}
	indexed(t, es)

	if err := env.Client.Delete(ctx, index); err != nil {
		t.Fatal(err)
	}
	indexed(t, es)
	pod := everyReference(ns, base)
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	assertReferences(t, pod, wantReferences(everyReference(ns, base), base, current))
}

// shadowingExternalSecret creates ExternalSecret "db" with target base, not
// synced, whose target name is held by a Secret vaultferry did not write.
func shadowingExternalSecret(t *testing.T, ctx context.Context, namespace string) *vfv1alpha1.ExternalSecret {
	t.Helper()
	es := fixtures.ExternalSecret(namespace, "db", fixtures.WithTarget(base))
	if err := env.Client.Create(ctx, es); err != nil {
		t.Fatal(err)
	}
	es.Status.ShadowedSecret = base
	if err := env.Client.Status().Update(ctx, es); err != nil {
		t.Fatal(err)
	}
	indexed(t, es)
	return es
}

// debugContainer is an ephemeral container taking its environment from base.
func debugContainer(name string) corev1.EphemeralContainer {
	return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: "registry.example/debug:1",
		EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: base}}}}}}
}

// addEphemeralContainer adds c to pod as kubectl debug does and returns the
// Pod as stored.
func addEphemeralContainer(t *testing.T, ctx context.Context, pod *corev1.Pod, c corev1.EphemeralContainer) *corev1.Pod {
	t.Helper()
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
		t.Fatal(err)
	}
	pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, c)
	if err := env.Client.SubResource("ephemeralcontainers").Update(ctx, pod); err != nil {
		t.Fatalf("adding ephemeral container %s: %v", c.Name, err)
	}
	got := &corev1.Pod{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), got); err != nil {
		t.Fatal(err)
	}
	return got
}
