package externalsecret_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/podrefs"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
)

func TestRolloutMovesTargetsAndRespectsUndo(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	store := readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"r1"}`)...)
	es := fixtures.ExternalSecret(ns, "app", fixtures.WithHistory(1))
	es.Spec.Rollout = &vfv1alpha1.Rollout{Targets: []vfv1alpha1.RolloutTarget{
		{Kind: "Deployment", Name: "web"},
		{Kind: "Deployment", Name: "bystander"},
	}}
	operator.Create(t, env.Client, es)
	v1 := synced(t, es, "").Status.CurrentSecretName

	web := richDeployment(ns, "web", v1)
	bystander := deploymentUsing(ns, "bystander", "some-other-secret")
	optedIn := deploymentUsing(ns, "worker", v1)
	optedIn.Annotations = map[string]string{vfv1alpha1.RolloutAnnotation: "unrelated, app"}
	oldPod := podUsing(ns, "web-old-pod", v1)
	operator.Create(t, env.Client, web, bystander, optedIn, oldPod)
	webBefore := templateJSON(t, web)
	bystanderVersion := bystander.ResourceVersion

	// Rotation: the targets move to the new version and roll.
	setStoreData(t, store, fixtures.FakeData("db", `{"password":"r2"}`)...)
	operator.ForceSync(t, env.Client, es)
	v2 := synced(t, es, v1).Status.CurrentSecretName
	operator.WaitFor(t, env.Client, web, "web moved to "+v2, func(d *appsv1.Deployment) bool { return strings.Contains(templateJSON(t, d), v2) })
	if want, got := strings.ReplaceAll(webBefore, v1, v2), templateJSON(t, web); got != want {
		t.Errorf("rollout changed more than the references:\nwant %s\ngot  %s", want, got)
	}
	operator.WaitFor(t, env.Client, optedIn, "annotated worker moved", func(d *appsv1.Deployment) bool { return strings.Contains(templateJSON(t, d), v2) })
	if got := getDeployment(t, ns, "bystander"); got.ResourceVersion != bystanderVersion {
		t.Errorf("a target that references no version of the ExternalSecret was modified")
	}
	if _, ok := versions(t, ns, "app")[v1]; !ok {
		t.Fatalf("version %s was deleted while a pod still references it", v1)
	}
	operator.WaitForEvent(t, env.Client, ns, "app", vfv1alpha1.RolloutReason)
	operator.WaitForEvent(t, env.Client, ns, "web", vfv1alpha1.RolloutReason)
	// The condition is written with the status, after the workloads moved.
	operator.WaitFor(t, env.Client, es, "RolledOut=True", func(es *vfv1alpha1.ExternalSecret) bool {
		rolled := operator.Condition(es.Status.Conditions, vfv1alpha1.RolledOutCondition)
		return rolled != nil && rolled.Status == metav1.ConditionTrue
	})

	// Undo (what `kubectl rollout undo` does to the template), then a sync
	// with unchanged content: the undo stands.
	update(t, web, func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].EnvFrom[0].SecretRef.Name = v1
		d.Spec.Template.Spec.Volumes[0].Secret.SecretName = v1
	})
	undone := web.ResourceVersion
	update(t, es, func(es *vfv1alpha1.ExternalSecret) {
		es.Spec.RefreshInterval = &metav1.Duration{Duration: 2 * time.Hour}
	})
	synced(t, es, "")
	time.Sleep(time.Second) // the operator's in-use rechecks run every second; none may roll
	if got := getDeployment(t, ns, "web"); got.ResourceVersion != undone {
		t.Fatalf("the operator fought the undo: web was changed again")
	}

	// A later rotation rolls forward again.
	setStoreData(t, store, fixtures.FakeData("db", `{"password":"r3"}`)...)
	operator.ForceSync(t, env.Client, es)
	v3 := synced(t, es, v2).Status.CurrentSecretName
	operator.WaitFor(t, env.Client, web, "web moved to "+v3, func(d *appsv1.Deployment) bool {
		return strings.Contains(templateJSON(t, d), v3) && !strings.Contains(templateJSON(t, d), v1)
	})
}

// A missing target is reported on the RolledOut condition; the sync itself succeeds.
func TestMissingRolloutTargetIsAConditionNotAFailure(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	store := readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"m1"}`)...)
	es := fixtures.ExternalSecret(ns, "app")
	es.Spec.Rollout = &vfv1alpha1.Rollout{Targets: []vfv1alpha1.RolloutTarget{{Kind: "StatefulSet", Name: "ghost"}}}
	operator.Create(t, env.Client, es)
	v1 := synced(t, es, "").Status.CurrentSecretName
	setStoreData(t, store, fixtures.FakeData("db", `{"password":"m2"}`)...)
	operator.ForceSync(t, env.Client, es)
	synced(t, es, v1)
	// The rollout runs after the batch window.
	operator.WaitFor(t, env.Client, es, "RolledOut=False", func(es *vfv1alpha1.ExternalSecret) bool {
		return operator.Condition(es.Status.Conditions, vfv1alpha1.RolledOutCondition) != nil
	})
	rolled := operator.Condition(es.Status.Conditions, vfv1alpha1.RolledOutCondition)
	if rolled == nil || rolled.Status != metav1.ConditionFalse || rolled.Reason != vfv1alpha1.RolloutFailedReason || !strings.Contains(rolled.Message, "StatefulSet ghost not found") {
		t.Fatalf("RolledOut = %+v, want False/RolloutFailed naming the missing StatefulSet", rolled)
	}
	if operator.Condition(es.Status.Conditions, vfv1alpha1.ReadyCondition).Status != metav1.ConditionTrue {
		t.Errorf("a missing rollout target failed the sync: %+v", es.Status.Conditions)
	}
}

// richDeployment references the version in several ways, beside unrelated
// fields the rollout must leave alone.
func richDeployment(namespace, name, secret string) *appsv1.Deployment {
	d := deploymentUsing(namespace, name, secret)
	spec := &d.Spec.Template.Spec
	spec.Volumes = []corev1.Volume{
		{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}},
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}}},
		{Name: "bundle", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "unrelated-secret"}}},
		}}}},
	}
	spec.Containers[0].Env = []corev1.EnvVar{
		{Name: "PLAIN", Value: "kept"},
		{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "password"}}},
	}
	spec.InitContainers = []corev1.Container{{Name: "init", Image: "example.invalid/init",
		EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}}}}}
	d.Spec.Template.Annotations = map[string]string{"team": "payments"}
	return d
}

func templateJSON(t *testing.T, d *appsv1.Deployment) string {
	t.Helper()
	b, err := json.Marshal(d.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func getDeployment(t *testing.T, namespace, name string) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(d), d); err != nil {
		t.Fatal(err)
	}
	return d
}

// Without the stable-reference policies installed the operator runs in
// rewrite mode and says why.
func TestOperatorLogsRewriteModeWithoutPolicies(t *testing.T) {
	start(t)
	want := "Stable references: rewrite mode: MutatingAdmissionPolicy vaultferry-stable-references is not installed"
	if logs := operator.CapturedLogs(); !strings.Contains(logs, want) {
		t.Errorf("operator log lacks %q", want)
	}
}

// A version that only a pin names (a Deployment's old ReplicaSet, scaled to
// zero, that `kubectl rollout undo` can return to) is kept, and pruned once
// the ReplicaSet goes.
func TestPinnedVersionsAreKept(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	store := readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"k1"}`)...)
	es := fixtures.ExternalSecret(ns, "app", fixtures.WithTarget("app-credentials"), fixtures.WithHistory(1))
	operator.Create(t, env.Client, es)
	v1 := synced(t, es, "").Status.CurrentSecretName

	history := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-1"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: new(int32),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, Annotations: map[string]string{podrefs.PinAnnotation("app-credentials"): v1}},
				Spec:       podSpecUsing("app-credentials"),
			},
		},
	}
	operator.Create(t, env.Client, history)
	setStoreData(t, store, fixtures.FakeData("db", `{"password":"k2"}`)...)
	operator.ForceSync(t, env.Client, es)
	v2 := synced(t, es, v1).Status.CurrentSecretName
	setStoreData(t, store, fixtures.FakeData("db", `{"password":"k3"}`)...)
	operator.ForceSync(t, env.Client, es)
	v3 := synced(t, es, v2).Status.CurrentSecretName
	operator.WaitFor(t, env.Client, es, "unpinned "+v2+" pruned", func(es *vfv1alpha1.ExternalSecret) bool {
		_, kept := versions(t, ns, "app")[v2]
		return !kept
	})
	if _, kept := versions(t, ns, "app")[v1]; !kept {
		t.Fatalf("pinned version %s was pruned while ReplicaSet web-1 pins it", v1)
	}

	if err := env.Client.Delete(context.Background(), history); err != nil {
		t.Fatal(err)
	}
	operator.WaitFor(t, env.Client, es, v1+" pruned once nothing pins it", func(es *vfv1alpha1.ExternalSecret) bool {
		_, kept := versions(t, ns, "app")[v1]
		return !kept && es.Status.CurrentSecretName == v3
	})
}
