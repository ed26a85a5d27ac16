package externalsecret

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
)

// apply makes want exist and returns the Secret that now holds es's content.
// An immutable version with the same name already holds the same content
// (the name is its hash), so it is reused, only re-stamped with a new
// revision when es returns to it. A mutable target is rewritten in place.
func (r *Reconciler) apply(ctx context.Context, es *vfv1alpha1.ExternalSecret, want *corev1.Secret, owned []corev1.Secret) (*corev1.Secret, error) {
	newest := highestRevision(es, owned)
	existing := findSecret(owned, want.Name)
	if existing == nil && es.IsImmutable() {
		if current := r.currentWithContentOf(es, want, owned); current != nil {
			existing, want.Name = current, current.Name
		}
	}
	// Judged from the versions themselves, not status, which may lag behind
	// them in the cache: a version holding the newest revision is current already.
	alreadyCurrent := existing != nil && newest > 0 && revisionOf(existing) == newest
	revision := newest + 1
	if alreadyCurrent {
		revision = newest
	}
	want.Annotations[vfv1alpha1.RevisionAnnotation] = strconv.FormatInt(revision, 10)

	if existing == nil {
		created, err := r.create(ctx, es, want)
		if err != nil || created == want {
			return created, err
		}
		existing = created // ours from before a restart, or adopted
	}
	if !es.IsImmutable() && !r.holdsContentOf(existing, want) {
		return r.rewrite(ctx, es, existing, want, newest+1)
	}
	return r.syncMetadata(ctx, existing, want)
}

// currentWithContentOf returns es's current version when it already holds
// want's content under another name: a version written by vaultferry 0.1,
// whose names were not bound to the namespace. An upgrade keeps using it,
// rather than copying every Secret to a new name and rolling every workload;
// the next content change writes a version with a new-style name.
func (r *Reconciler) currentWithContentOf(es *vfv1alpha1.ExternalSecret, want *corev1.Secret, owned []corev1.Secret) *corev1.Secret {
	current := findSecret(owned, es.Status.CurrentSecretName)
	if current == nil || !r.holdsContentOf(current, want) {
		return nil
	}
	return current
}

// holdsContentOf reports whether s's content hash, in the current or the
// 0.1 scheme, is want's.
func (r *Reconciler) holdsContentOf(s, want *corev1.Secret) bool {
	hash := s.Annotations[vfv1alpha1.ContentHashAnnotation]
	return hash == want.Annotations[vfv1alpha1.ContentHashAnnotation] || hash == legacyContentHash(r.HashKey, want.Type, want.Data)
}

// create creates want; when a Secret of that name exists it is returned if
// es may use it: its own version (created before a restart), or one it
// adopts (see adoptable). Anything else is a conflict.
func (r *Reconciler) create(ctx context.Context, es *vfv1alpha1.ExternalSecret, want *corev1.Secret) (*corev1.Secret, error) {
	err := r.Create(ctx, want)
	if err == nil {
		revision := want.Annotations[vfv1alpha1.RevisionAnnotation]
		// The first version is announced by Ready ("Synced to <name>
		// (revision 1)"): an event each would add a third of the API
		// server's writes to a cold sync of many ExternalSecrets.
		if revision != "1" {
			r.Events.Eventf(es, want, corev1.EventTypeNormal, vfv1alpha1.VersionCreatedReason, "Sync",
				"Created version %s (revision %s)", want.Name, revision)
		}
		log.FromContext(ctx).Info("Created version", "secret", want.Name, "revision", revision)
		return want, nil
	}
	if apierrors.IsInvalid(err) || apierrors.IsRequestEntityTooLargeError(err) {
		return nil, requeue.New(requeue.Stall, vfv1alpha1.InvalidDataReason, refusedSecret(want.Name, err))
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating version %s: %w", want.Name, err)
	}
	existing := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(want), existing); err != nil {
		return nil, fmt.Errorf("reading existing Secret %s: %w", want.Name, err)
	}
	switch {
	case metav1.IsControlledBy(existing, es):
		return existing, nil
	case adoptable(es, existing):
		before := existing.DeepCopy()
		existing.OwnerReferences = append(slices.DeleteFunc(existing.OwnerReferences, func(ref metav1.OwnerReference) bool {
			return ref.Controller != nil && *ref.Controller
		}), ownerReference(es))
		if err := r.Patch(ctx, existing, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return nil, fmt.Errorf("adopting version %s: %w", existing.Name, err)
		}
		return existing, nil
	default:
		// Rechecked now and then: the conflicting Secret is not in the
		// operator's cache, so its deletion wakes nothing.
		return nil, requeue.New(requeue.Wait, vfv1alpha1.TargetConflictReason,
			fmt.Errorf("a Secret named %s already exists and is not managed by this ExternalSecret: rename spec.target.name or delete that Secret", want.Name))
	}
}

// adoptable reports whether existing is a version es may take as its own:
// one its ExternalSecret name wrote and that no live ExternalSecret controls
// — released by deletionPolicy Retain (no controller), or written by an
// earlier ExternalSecret of the same name, now gone (re-created from Git
// after a prune while Pods still use the version, which VersionProtector
// keeps). Names are unique in a namespace, so it is not another tenant's.
// No I/O.
func adoptable(es *vfv1alpha1.ExternalSecret, existing *corev1.Secret) bool {
	if existing.Labels[vfv1alpha1.ManagedLabel] != "true" || existing.Labels[vfv1alpha1.ExternalSecretLabel] != es.Name {
		return false
	}
	owner := metav1.GetControllerOf(existing)
	return owner == nil || owner.Kind == "ExternalSecret" && owner.APIVersion == vfv1alpha1.GroupVersion.String() &&
		owner.Name == es.Name && owner.UID != es.UID
}

// refusedSecret explains why the API server refused a version, naming only
// the offending fields (never data): most often the 1 MiB Secret size limit.
func refusedSecret(name string, err error) error {
	var fields []string
	tooLarge := apierrors.IsRequestEntityTooLargeError(err)
	if status, ok := err.(apierrors.APIStatus); ok && status.Status().Details != nil {
		for _, c := range status.Status().Details.Causes {
			fields = append(fields, fmt.Sprintf("%s (%s)", c.Field, c.Type))
			tooLarge = tooLarge || c.Type == metav1.CauseTypeTooLong
		}
	}
	if tooLarge {
		return fmt.Errorf("the API server refused Secret %s as too large: %v; Secrets are limited to 1 MiB of data", name, fields)
	}
	return fmt.Errorf("the API server refused Secret %s: %v", name, fields)
}

// rewrite updates a mutable target's data in place (immutable: false).
func (r *Reconciler) rewrite(ctx context.Context, es *vfv1alpha1.ExternalSecret, existing, want *corev1.Secret, revision int64) (*corev1.Secret, error) {
	updated := existing.DeepCopy()
	updated.Type = want.Type
	updated.Data = want.Data
	maps.Copy(updated.Labels, want.Labels)
	maps.Copy(updated.Annotations, want.Annotations)
	updated.Annotations[vfv1alpha1.RevisionAnnotation] = strconv.FormatInt(revision, 10)
	if err := r.Update(ctx, updated); err != nil {
		return nil, fmt.Errorf("updating %s: %w", updated.Name, err)
	}
	r.Events.Eventf(es, updated, corev1.EventTypeNormal, vfv1alpha1.VersionCreatedReason, "Sync",
		"Updated %s in place (revision %d)", updated.Name, revision)
	return updated, nil
}

// syncMetadata patches labels and annotations onto an existing version:
// immutability freezes data only, so template metadata and the revision
// stamp of a version es returns to are updated in place.
func (r *Reconciler) syncMetadata(ctx context.Context, existing, want *corev1.Secret) (*corev1.Secret, error) {
	updated := existing.DeepCopy()
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	if updated.Annotations == nil {
		updated.Annotations = map[string]string{}
	}
	maps.Copy(updated.Labels, want.Labels)
	maps.Copy(updated.Annotations, want.Annotations)
	if maps.Equal(updated.Labels, existing.Labels) && maps.Equal(updated.Annotations, existing.Annotations) {
		return existing, nil
	}
	if err := r.Patch(ctx, updated, client.MergeFrom(existing)); err != nil {
		return nil, fmt.Errorf("updating metadata of %s: %w", existing.Name, err)
	}
	return updated, nil
}

// highestRevision is the newest revision es or its versions have seen, so
// revisions stay monotonic even when status was lost.
func highestRevision(es *vfv1alpha1.ExternalSecret, owned []corev1.Secret) int64 {
	highest := es.Status.Revision
	for i := range owned {
		highest = max(highest, revisionOf(&owned[i]))
	}
	return highest
}

func revisionOf(s *corev1.Secret) int64 {
	n, _ := strconv.ParseInt(s.Annotations[vfv1alpha1.RevisionAnnotation], 10, 64)
	return n
}

func sourceVersionsOf(s *corev1.Secret) map[string]string {
	raw := s.Annotations[vfv1alpha1.SourceVersionsAnnotation]
	if raw == "" {
		return nil
	}
	var out map[string]string
	if json.Unmarshal([]byte(raw), &out) != nil {
		return nil
	}
	return out
}
