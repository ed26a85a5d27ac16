package gitops

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vaultferry/vaultferry/apis/convert"
	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
)

// A Secret of the target's name that vaultferry did not write (here one
// External Secrets Operator left, during a migration) keeps serving Pods
// until the ExternalSecret has its first version; then new Pods get the
// versions, and the old Secret is never touched.
func TestMigrationFromASecretOfTheSameName(t *testing.T) {
	start(t)
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	legacy := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-credentials", Labels: map[string]string{"reconcile.external-secrets.io/managed": "true"}},
		Data:       map[string][]byte{"password": []byte("from-eso")},
	}
	operator.Create(t, env.Client, legacy)
	store := operator.ReadyFakeStore(t, env.Client, ns, "store", fixtures.FakeData("other", `{"x":"y"}`)...)
	es := fixtures.ExternalSecret(ns, "db", fixtures.WithTarget("db-credentials"))
	operator.Create(t, env.Client, es)
	es = operator.WaitForReason(t, env.Client, es, metav1.ConditionFalse, vfv1alpha1.NotFoundReason)
	if es.Status.ShadowedSecret != "db-credentials" {
		t.Fatalf("status.shadowedSecret = %q, want db-credentials", es.Status.ShadowedSecret)
	}

	// Not synced yet: the Deployment's Pods are admitted on the old Secret.
	manifest := newGitRepo(t).write("web.yaml", webManifest(ns))
	fluxApply(t, manifest)
	rs := waitReplicaSets(t, ns, 1)
	waitPodsHolding(t, rs[0], 2, "db-credentials")

	// The first version: existing Pods stay, new Pods get the version.
	operator.SetFakeStoreData(t, env.Client, store, fixtures.FakeData("db", `{"password":"from-vault"}`)...)
	operator.ForceSync(t, env.Client, es)
	es = operator.WaitSynced(t, env.Client, es, "")
	v1 := es.Status.CurrentSecretName
	if es.Status.ShadowedSecret != "" {
		t.Errorf("status.shadowedSecret = %q after the first sync, want it cleared", es.Status.ShadowedSecret)
	}
	warning := operator.WaitForEvent(t, env.Client, ns, "db", vfv1alpha1.ShadowedSecretReason)
	if !strings.Contains(warning.Note, "Secret db-credentials was not written by vaultferry") {
		t.Errorf("ShadowedSecret event: %q", warning.Note)
	}
	env.MustKubectl(t, "-n", ns, "rollout", "restart", "deployment/web")
	rs = waitReplicaSets(t, ns, 2)
	waitPodsHolding(t, rs[1], 1, v1)
	waitPodsHolding(t, rs[0], 1, "db-credentials")

	got := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(legacy), got); err != nil {
		t.Fatalf("the old Secret is gone: %v", err)
	}
	if string(got.Data["password"]) != "from-eso" || got.ResourceVersion != legacy.ResourceVersion {
		t.Errorf("the old Secret was changed: %+v", got)
	}
}

// esoManifests are what a team running External Secrets Operator has in
// Git: a store and an ExternalSecret writing db-credentials.
const esoManifests = `# payments database credentials (External Secrets Operator)
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: store, namespace: %[1]s}
spec:
  provider:
    fake:
      data:
        - {key: db, value: '{"password":"from-vault"}'}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: db, namespace: %[1]s}
spec:
  refreshInterval: 1h
  secretStoreRef: {name: store, kind: SecretStore}
  target:
    name: db-credentials
    creationPolicy: Owner
  data:
    - secretKey: password
      remoteRef: {key: db, property: password}
`

// The cut-over the README describes, on the real API server with the
// garbage collector: External Secrets Operator's ExternalSecret owns
// db-credentials, which a running Deployment uses; the converted manifests
// are applied. The running Pods keep db-credentials, unchanged; new Pods get
// vaultferry's version through the stable references; then External Secrets
// Operator's objects are removed without taking the Secret from Pods that
// still use it, and vaultferry carries on alone.
func TestCutOverFromExternalSecretsOperator(t *testing.T) {
	start(t)
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	installESOCRDs(t)
	repo := newGitRepo(t)
	eso := repo.write("eso.yaml", fmt.Sprintf(esoManifests, ns))
	env.MustKubectl(t, "apply", "-f", eso)

	// What External Secrets Operator had written: db-credentials, owned by its ExternalSecret.
	owner := &unstructured.Unstructured{}
	owner.SetAPIVersion("external-secrets.io/v1")
	owner.SetKind("ExternalSecret")
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "db"}, owner); err != nil {
		t.Fatal(err)
	}
	legacy := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-credentials",
		Labels: map[string]string{"reconcile.external-secrets.io/managed": "true"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "external-secrets.io/v1", Kind: "ExternalSecret", Name: "db", UID: owner.GetUID(),
			Controller: new(true), BlockOwnerDeletion: new(true)}}},
		Data: map[string][]byte{"password": []byte("from-eso")}}
	operator.Create(t, env.Client, legacy)
	fluxApply(t, repo.write("web.yaml", webManifest(ns)))
	running := waitReplicaSets(t, ns, 1)[0]
	waitPodsHolding(t, running, 2, "db-credentials")

	// 1. Convert and apply.
	var converted, summary bytes.Buffer
	if code := convert.Main([]string{eso}, nil, &converted, &summary); code != convert.ExitOK {
		t.Fatalf("convert exited %d:\n%s", code, summary.String())
	}
	if !strings.Contains(summary.String(), "target.immutable: writes immutable versions") {
		t.Errorf("the summary does not point out the versioned Secrets:\n%s", summary.String())
	}
	env.MustKubectl(t, "apply", "-f", repo.write("vaultferry.yaml", converted.String()))
	es := operator.WaitSynced(t, env.Client, &vfv1alpha1.ExternalSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"}}, "")
	v1 := es.Status.CurrentSecretName
	if got := string(operator.SecretData(t, env.Client, ns, v1)["password"]); got != "from-vault" {
		t.Fatalf("vaultferry's version holds %q", got)
	}

	// 2. Nothing the running Pods use changed; new Pods get the version.
	got := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(legacy), got); err != nil || got.ResourceVersion != legacy.ResourceVersion {
		t.Fatalf("db-credentials was changed or deleted: %v", err)
	}
	waitPodsHolding(t, running, 2, "db-credentials")
	env.MustKubectl(t, "-n", ns, "rollout", "restart", "deployment/web")
	waitPodsHolding(t, waitReplicaSets(t, ns, 2)[1], 1, v1)

	// 3. Remove External Secrets Operator's objects, orphaning the Secret
	// (old Pods may still run on it), then the Secret once nothing uses it.
	env.MustKubectl(t, "-n", ns, "delete", "externalsecrets.external-secrets.io/db", "secretstores.external-secrets.io/store", "--cascade=orphan")
	operator.WaitFor(t, env.Client, got, "db-credentials orphaned", func(s *corev1.Secret) bool { return len(s.OwnerReferences) == 0 })
	if err := env.Client.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	env.MustKubectl(t, "-n", ns, "rollout", "restart", "deployment/web")
	waitPodsHolding(t, waitReplicaSets(t, ns, 3)[2], 1, v1)
	es = operator.WaitSynced(t, env.Client, es, "")
	if es.Status.CurrentSecretName != v1 {
		t.Errorf("removing External Secrets Operator's objects changed the current version to %s", es.Status.CurrentSecretName)
	}
	assertVersionsExist(t, ns, v1)
}

// installESOCRDs installs External Secrets Operator's ExternalSecret and
// SecretStore kinds (schemas left open: only their objects matter here)
// for one test.
func installESOCRDs(t *testing.T) {
	t.Helper()
	var docs []string
	for _, kind := range []string{"ExternalSecret", "SecretStore"} {
		plural := strings.ToLower(kind) + "s"
		docs = append(docs, fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: %[1]s.external-secrets.io}
spec:
  group: external-secrets.io
  scope: Namespaced
  names: {kind: %[2]s, plural: %[1]s, singular: %[3]s, listKind: %[2]sList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`, plural, kind, strings.ToLower(kind)))
	}
	file := newGitRepo(t).write("eso-crds.yaml", strings.Join(docs, "---\n"))
	env.MustKubectl(t, "apply", "-f", file)
	env.MustKubectl(t, "wait", "--for=condition=Established", "-f", file, "--timeout=60s")
	t.Cleanup(func() { _, _ = env.Kubectl(context.Background(), "delete", "-f", file, "--wait=false") })
}
