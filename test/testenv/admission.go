package testenv

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/targetindex"
	"github.com/vaultferry/vaultferry/test/fixtures"
)

// StableReferencesPolicies is the file with the admission policies that
// resolve stable Secret references (config/admission), as the chart ships them.
func StableReferencesPolicies() string {
	return filepath.Join(RepoRoot(), "config", "admission", "stable-references.yaml")
}

// InstallStableReferences applies the stable-reference admission policies
// and waits until the API server enforces both: in a probe namespace with a
// TargetIndex written here, as the operator would write it, a Pod naming a
// synced target is rewritten and one naming an unsynced target is refused.
// The API server loads policies asynchronously, a second or so after they
// are created.
func (e *Env) InstallStableReferences(ctx context.Context) error {
	if out, err := e.Kubectl(ctx, "apply", "--server-side", "-f", StableReferencesPolicies()); err != nil {
		return fmt.Errorf("applying %s: %w: %s", StableReferencesPolicies(), err, out)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "policy-probe-"}}
	if err := e.Client.Create(ctx, ns); err != nil {
		return err
	}
	defer func() { _ = e.Client.Delete(context.Background(), ns) }()
	index := &vfv1alpha1.TargetIndex{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: vfv1alpha1.TargetIndexName},
		Targets: map[string]string{"synced": "synced-0000000000", "unsynced": ""},
		Pending: map[string]string{"unsynced": "ExternalSecret unsynced (Ready reason: not reconciled yet)"}, TargetCount: 2}
	if err := e.Client.Create(ctx, index); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		mutated, refused := e.probePolicies(ctx, ns.Name)
		if mutated && refused {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stable-reference policies not enforced after a minute (mutating: %t, validating: %t)", mutated, refused)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (e *Env) probePolicies(ctx context.Context, namespace string) (mutated, refused bool) {
	pod := fixtures.PodUsingSecrets(namespace, "probe", "synced")
	if err := e.Client.Create(ctx, pod, client.DryRunAll); err == nil {
		mutated = pod.Spec.Volumes[0].Secret.SecretName == "synced-0000000000"
	}
	refused = e.Client.Create(ctx, fixtures.PodUsingSecrets(namespace, "probe", "unsynced"), client.DryRunAll) != nil
	return mutated, refused
}

// SetSynced writes the status the operator writes after syncing es to
// versions (newest first), without running the operator: for admission
// tests, which run only the TargetIndex controller beside the policies. It
// returns once the namespace's TargetIndex shows the new status.
func (e *Env) SetSynced(ctx context.Context, es *vfv1alpha1.ExternalSecret, versions ...string) error {
	es.Status.CurrentSecretName = versions[0]
	es.Status.Revision = int64(len(versions))
	es.Status.Versions = nil
	for i, v := range versions {
		es.Status.Versions = append(es.Status.Versions, vfv1alpha1.SecretVersion{Name: v, Hash: "test", Revision: int64(len(versions) - i), CreatedAt: metav1.Now()})
	}
	es.Status.Conditions = []metav1.Condition{{
		Type: vfv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: vfv1alpha1.SyncedReason,
		Message: "Synced", LastTransitionTime: metav1.Now(),
	}}
	if err := e.Client.Status().Update(ctx, es); err != nil {
		return err
	}
	return e.WaitIndexed(ctx, es)
}

// WaitIndexed waits until the TargetIndex of es's namespace holds what es
// contributes to it now (the TargetIndex controller must be running, see
// operator.RunTargetIndex): the policies read the index, not es.
func (e *Env) WaitIndexed(ctx context.Context, es *vfv1alpha1.ExternalSecret) error {
	if err := e.Client.Get(ctx, client.ObjectKeyFromObject(es), es); err != nil {
		return err
	}
	target, want, ok := targetindex.EntryOf(es)
	deadline := time.Now().Add(30 * time.Second)
	for {
		index := &vfv1alpha1.TargetIndex{}
		err := e.Client.Get(ctx, client.ObjectKey{Namespace: es.Namespace, Name: vfv1alpha1.TargetIndexName}, index)
		got, found := targetindex.Lookup(index, target)
		if (err == nil || apierrors.IsNotFound(err)) && found == ok && (!ok || got == want) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("TargetIndex of %s does not show ExternalSecret %s: %+v (read error: %w), want %+v", es.Namespace, es.Name, got, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
