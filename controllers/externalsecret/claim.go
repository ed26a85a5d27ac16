package externalsecret

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
	"github.com/vaultferry/vaultferry/controllers/targetindex"
)

// targetNameIndex indexes ExternalSecrets by the base name of their target.
const targetNameIndex = ".spec.target.name"

// checkTargetClaim lets es write only when it holds its target: the first
// ExternalSecret of the namespace to claim a target keeps it (see
// targetindex.Holder), and another naming it gets TargetConflict naming the
// holder, writes no version and leaves what Pods get alone.
func (r *Reconciler) checkTargetClaim(ctx context.Context, es *vfv1alpha1.ExternalSecret) error {
	list := &vfv1alpha1.ExternalSecretList{}
	if err := r.List(ctx, list, client.InNamespace(es.Namespace), client.MatchingFields{targetNameIndex: es.TargetBaseName()},
		client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing the ExternalSecrets naming target %s: %w", es.TargetBaseName(), err)
	}
	claimants := []*vfv1alpha1.ExternalSecret{es} // as read now: the cache may lag behind
	for i := range list.Items {
		if list.Items[i].UID != es.UID {
			claimants = append(claimants, &list.Items[i])
		}
	}
	holder, _ := targetindex.Holder(es.TargetBaseName(), claimants)
	if holder == nil || holder.UID == es.UID {
		return nil
	}
	return requeue.New(requeue.Wait, vfv1alpha1.TargetConflictReason,
		fmt.Errorf("target %q is held by ExternalSecret %q, which claimed it first: rename spec.target.name, or delete ExternalSecret %q if it should go",
			es.TargetBaseName(), holder.Name, holder.Name))
}

// otherClaimants wakes the other ExternalSecrets naming the target of o
// (before and after an edit): the holder went away or moved on.
func (r *Reconciler) otherClaimants(ctx context.Context, o client.Object) []reconcile.Request {
	es := o.(*vfv1alpha1.ExternalSecret)
	return r.requestsFor(ctx, func(other *vfv1alpha1.ExternalSecret) bool { return other.UID != es.UID },
		client.InNamespace(es.Namespace), client.MatchingFields{targetNameIndex: es.TargetBaseName()})
}

// claimReleased reports whether an update may give the target es named
// before a new holder: es was marked for deletion or names another target.
func claimReleased(before, after *vfv1alpha1.ExternalSecret) bool {
	return before.TargetBaseName() != after.TargetBaseName() || before.DeletionTimestamp.IsZero() != after.DeletionTimestamp.IsZero()
}
