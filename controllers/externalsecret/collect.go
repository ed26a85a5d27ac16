package externalsecret

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
)

// collect records the versions that exist in status.versions, deletes the
// ones retention and workloads no longer need, and schedules the next
// refresh. It runs on every reconcile of a Ready ExternalSecret; the caller
// writes status.
func (r *Reconciler) collect(ctx context.Context, es *vfv1alpha1.ExternalSecret, owned []corev1.Secret, current string) (ctrl.Result, error) {
	es.Status.Versions = versionsOf(owned, es.Status.Versions, current, metav1.NewTime(r.now()))
	if err := protect(ctx, r.Client, owned); err != nil {
		return ctrl.Result{}, err
	}

	result := r.nextRefresh(ctx, es)
	minRetention := es.MinRetention()
	if es.Spec.Dynamic != nil {
		minRetention = 0 // a superseded lease is revoked as soon as nothing uses it
	}
	candidates := pruneCandidates(es.Status.Versions, current, historyLimit(es), minRetention, r.now())
	// A held version stays while the hold is in Git, used or not.
	candidates = slices.DeleteFunc(candidates, func(name string) bool { return name == es.Spec.Target.HoldVersion })
	if len(candidates) > 0 {
		held, err := r.prune(ctx, es, owned, candidates)
		if err != nil {
			return ctrl.Result{}, err
		}
		if held > 0 {
			recheck := orDefault(r.InUseRecheck, DefaultInUseRecheck)
			if result.RequeueAfter == 0 || recheck < result.RequeueAfter {
				result = requeue.Background(requeue.Jitter(recheck))
			}
		}
	}
	return result, nil
}

// historyLimit is es's history limit, at least 2 for templated
// ExternalSecrets: a template's .previous is the version before the
// current one, and without it the same values would render a new version.
func historyLimit(es *vfv1alpha1.ExternalSecret) int {
	if es.Spec.Dynamic != nil {
		return 1 // only in-use superseded versions keep their credentials
	}
	if t := es.Spec.Target.Template; t != nil && hasTemplates(t) {
		return max(es.HistoryLimit(), 2)
	}
	return es.HistoryLimit()
}

// nextRefresh schedules the next periodic fetch of es, if it has a refresh
// interval. A deadline that passed while this reconcile ran still requeues
// (see requeue.Background).
func (r *Reconciler) nextRefresh(ctx context.Context, es *vfv1alpha1.ExternalSecret) ctrl.Result {
	if es.RefreshEvery() == 0 {
		return ctrl.Result{}
	}
	return requeue.Background(r.untilRefresh(ctx, es))
}

// patchStatus writes es.Status when it differs from before.
func (r *Reconciler) patchStatus(ctx context.Context, before, es *vfv1alpha1.ExternalSecret) error {
	if equality.Semantic.DeepEqual(before.Status, es.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, es, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("updating status of %s: %w", es.Name, err)
	}
	return nil
}

// prune deletes the candidates no Pod or pod template references and drops
// them from status; it returns how many were held back because in use. Each
// deletion is conditional on the UID of the version es owns, so a Secret
// re-created under the same name meanwhile is never deleted.
func (r *Reconciler) prune(ctx context.Context, es *vfv1alpha1.ExternalSecret, owned []corev1.Secret, candidates []string) (held int, err error) {
	inUse, err := secretsInUse(ctx, r.APIReader, es.Namespace)
	if err != nil {
		return 0, err
	}
	for _, name := range candidates {
		version := findSecret(owned, name)
		if inUse.Has(name) || version == nil {
			held++
			continue
		}
		if err := r.revokeLease(ctx, es, version); err != nil {
			log.FromContext(ctx).Info("Keeping a superseded version until its lease is revoked", "secret", name, "error", err.Error())
			held++
			continue
		}
		victim := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: es.Namespace, Name: name}}
		err := r.Delete(ctx, victim, client.Preconditions{UID: &version.UID})
		switch {
		case apierrors.IsConflict(err):
			log.FromContext(ctx).Info("Not deleting superseded version: a Secret of that name was re-created", "secret", name)
			continue
		case client.IgnoreNotFound(err) != nil:
			return held, fmt.Errorf("deleting superseded version %s: %w", name, err)
		}
		// Nothing uses it (just checked): it need not wait for the
		// protection controller's own check.
		if err := unprotect(ctx, r.Client, version); err != nil {
			return held, err
		}
		es.Status.Versions = slices.DeleteFunc(es.Status.Versions, func(v vfv1alpha1.SecretVersion) bool { return v.Name == name })
		r.Events.Eventf(es, victim, corev1.EventTypeNormal, vfv1alpha1.VersionPrunedReason, "Prune", "Deleted superseded version %s", name)
		log.FromContext(ctx).Info("Deleted superseded version", "secret", name)
	}
	return held, nil
}

// versionsOf builds status.versions from the Secrets that exist, newest
// first, keeping when each was superseded. No I/O, no clock.
func versionsOf(owned []corev1.Secret, previous []vfv1alpha1.SecretVersion, current string, now metav1.Time) []vfv1alpha1.SecretVersion {
	supersededAt := map[string]*metav1.Time{}
	for _, v := range previous {
		supersededAt[v.Name] = v.SupersededAt
	}
	out := make([]vfv1alpha1.SecretVersion, 0, len(owned))
	for i := range owned {
		s := &owned[i]
		v := vfv1alpha1.SecretVersion{
			Name:           s.Name,
			Hash:           s.Annotations[vfv1alpha1.ContentHashAnnotation],
			Revision:       revisionOf(s),
			CreatedAt:      s.CreationTimestamp,
			SourceVersions: sourceVersionsOf(s),
		}
		if v.CreatedAt.IsZero() {
			v.CreatedAt = now // created in this reconcile; the cache has not seen it yet
		}
		if s.Name != current {
			v.SupersededAt = supersededAt[s.Name]
			if v.SupersededAt == nil {
				v.SupersededAt = &now
			}
		}
		out = append(out, v)
	}
	sortNewestFirst(out)
	return out
}
