package externalsecret

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/paths"
)

// Dynamic sources: one lease is one version. The lease's id and terms live
// in annotations of the version Secret, so a restarted operator reads them
// back and neither issues nor rolls anything because it restarted.

// leaseTerms are a version's lease, read from its annotations.
type leaseTerms struct {
	id        string
	expires   time.Time
	renewed   time.Time
	ttl       time.Duration
	renewable bool
	// binding is the keyed hash binding id to the ExternalSecret that
	// issued it (see leaseBinding).
	binding string
}

func leaseOf(s *corev1.Secret) (leaseTerms, bool) {
	a := s.Annotations
	expires, err := time.Parse(time.RFC3339, a[vfv1alpha1.LeaseExpiresAnnotation])
	if err != nil {
		return leaseTerms{}, false
	}
	renewed, _ := time.Parse(time.RFC3339, a[vfv1alpha1.LeaseRenewedAnnotation])
	secs, _ := strconv.Atoi(a[vfv1alpha1.LeaseTTLAnnotation])
	return leaseTerms{id: a[vfv1alpha1.LeaseIDAnnotation], expires: expires, renewed: renewed, ttl: time.Duration(secs) * time.Second,
		renewable: a[vfv1alpha1.LeaseRenewableAnnotation] == "true", binding: a[vfv1alpha1.LeaseBindingAnnotation]}, true
}

// leaseBinding binds a lease id to the ExternalSecret that issued it, keyed
// by the operator's key. Annotations of an immutable Secret stay editable by
// anyone who may edit Secrets in the namespace: without the binding, a
// tenant could write another lease id there and have the operator renew or
// revoke it with the store's token.
func leaseBinding(key []byte, es *vfv1alpha1.ExternalSecret, leaseID string) string {
	return keyedHash(namespaceKey(key, es.Namespace), struct {
		Purpose        string `json:"purpose"`
		ExternalSecret string `json:"externalSecret"`
		LeaseID        string `json:"leaseId"`
	}{"lease-binding", es.Name, leaseID})
}

// ownLease reads a version's lease and reports whether the operator may act
// on it: its id is bound to es (or it has no id: a certificate) and was
// issued from a canonical path.
func (r *Reconciler) ownLease(es *vfv1alpha1.ExternalSecret, s *corev1.Secret) (leaseTerms, bool) {
	terms, ok := leaseOf(s)
	if !ok || terms.id == "" {
		return terms, ok
	}
	if _, canonical := paths.LeasePath(terms.id); !canonical || !hmac.Equal([]byte(terms.binding), []byte(leaseBinding(r.HashKey, es, terms.id))) {
		return leaseTerms{}, false
	}
	return terms, true
}

// annotate records a lease on a version.
func (l leaseTerms) annotate(s *corev1.Secret) {
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	if l.id != "" {
		s.Annotations[vfv1alpha1.LeaseIDAnnotation] = l.id
	}
	s.Annotations[vfv1alpha1.LeaseExpiresAnnotation] = l.expires.UTC().Format(time.RFC3339)
	s.Annotations[vfv1alpha1.LeaseRenewedAnnotation] = l.renewed.UTC().Format(time.RFC3339)
	s.Annotations[vfv1alpha1.LeaseTTLAnnotation] = strconv.Itoa(int(l.ttl.Seconds()))
	s.Annotations[vfv1alpha1.LeaseRenewableAnnotation] = strconv.FormatBool(l.renewable)
	if l.binding != "" {
		s.Annotations[vfv1alpha1.LeaseBindingAnnotation] = l.binding
	}
}

// renewAt is when a lease is renewed: a share of its TTL after its last
// renewal, jittered by up to 10% earlier.
func (l leaseTerms) renewAt(percent int32, seed string) time.Time {
	if percent <= 0 {
		percent = 67
	}
	after := l.ttl * time.Duration(percent) / 100
	return l.renewed.Add(after - requeue.JitterFor(after/10, seed)/2)
}

// reissueAt is when new credentials are issued in place of these: the
// reissueBefore margin (default a third of the TTL) before they expire.
// A renewable lease that renewals keep pushing out is reissued only when
// Vault's max TTL caps it, which shows as expires coming closer.
func (l leaseTerms) reissueAt(before *metav1.Duration) time.Time {
	margin := l.ttl / 3
	if before != nil {
		margin = before.Duration
	}
	return l.expires.Add(-margin)
}

// ending reports whether credentials must be replaced now: they expired,
// or they are within reissueBefore of their end and renewals can no longer
// push it out (not renewable, or Vault's max TTL capped the last renewal).
// A lease that renewals keep extending is renewed, not replaced.
func (l leaseTerms) ending(now time.Time, before *metav1.Duration) bool {
	return !now.Before(l.expires) || (!l.renewable && !now.Before(l.reissueAt(before)))
}

// issueRequest is the request a dynamic source makes.
func issueRequest(d *vfv1alpha1.DynamicSource, tenant string) providers.IssueRequest {
	req := providers.IssueRequest{Path: d.Path, Write: dynamicMethod(d) == vfv1alpha1.DynamicWrite, Tenant: tenant}
	if len(d.Parameters) > 0 {
		req.Parameters = map[string]any{}
		for k, v := range d.Parameters {
			req.Parameters[k] = v
		}
	}
	if p := d.PKI; p != nil {
		req.Write = true
		req.Parameters = map[string]any{"common_name": p.CommonName}
		if len(p.AltNames) > 0 {
			req.Parameters["alt_names"] = strings.Join(p.AltNames, ",")
		}
		if len(p.IPSANs) > 0 {
			req.Parameters["ip_sans"] = strings.Join(p.IPSANs, ",")
		}
		if p.TTL != nil {
			req.Parameters["ttl"] = p.TTL.Duration.String()
		}
	}
	return req
}

// dynamicMethod is how d asks for credentials: a PKI certificate is
// always a write (its request is the parameters).
func dynamicMethod(d *vfv1alpha1.DynamicSource) vfv1alpha1.DynamicMethod {
	if d.PKI != nil || d.Method == string(vfv1alpha1.DynamicWrite) {
		return vfv1alpha1.DynamicWrite
	}
	return vfv1alpha1.DynamicRead
}

// dynamicData shapes issued credentials into Secret data: a certificate
// as kubernetes.io/tls keys, anything else field by field.
func dynamicData(d *vfv1alpha1.DynamicSource, issued map[string][]byte) map[string][]byte {
	if d.PKI == nil {
		return maps.Clone(issued)
	}
	return map[string][]byte{
		corev1.TLSCertKey:       issued["certificate"],
		corev1.TLSPrivateKeyKey: issued["private_key"],
		"ca.crt":                issued["issuing_ca"],
	}
}

// leaser is the store's client as an issuer of leases (every cached
// client is one; stores without leases answer ErrInvalid).
func (r *Reconciler) leaser(ctx context.Context, store *resolvedStore, es *vfv1alpha1.ExternalSecret) (providers.Leaser, error) {
	cl, err := r.storeClient(ctx, store, es)
	if err != nil {
		return nil, err
	}
	return cl.(providers.Leaser), nil
}

// syncDynamic issues new credentials when due (no current version, a spec
// change or force-sync, or the current lease about to end), keeps the
// leases of every kept version renewed, and revokes through prune.
func (r *Reconciler) syncDynamic(ctx context.Context, es *vfv1alpha1.ExternalSecret, owned []corev1.Secret, run *syncRun) (ctrl.Result, error) {
	d := es.Spec.Dynamic
	store, err := r.resolveStore(ctx, es)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := store.checkDynamicAllowed(d.Path, dynamicMethod(d)); err != nil {
		return ctrl.Result{}, err
	}
	leaser, err := r.leaser(ctx, store, es)
	if err != nil {
		return ctrl.Result{}, err
	}
	now := r.now()
	current := findSecret(owned, es.Status.CurrentSecretName)
	forced := es.ForceSyncRequested()
	terms, hasLease := leaseTerms{}, false
	if current != nil {
		terms, hasLease = r.ownLease(es, current)
	}
	if current == nil || !hasLease || forced || es.Generation != es.Status.ObservedGeneration || terms.ending(now, d.ReissueBefore) {
		run.synced = true
		if current, err = r.issue(ctx, es, store, leaser, owned); err != nil {
			return ctrl.Result{}, err
		}
		owned = appendIfMissing(owned, current)
		if forced {
			es.Status.RolloutRevision = min(es.Status.RolloutRevision, es.Status.Revision-1)
		}
	}
	next, err := r.renewLeases(ctx, es, store, leaser, owned)
	if err != nil {
		return ctrl.Result{}, err
	}
	result, err := r.rolloutAndCollect(ctx, es, owned)
	if err != nil {
		return result, err
	}
	r.recordLeases(es, owned)
	if wait := next.Sub(r.now()); !next.IsZero() && (result.RequeueAfter == 0 || wait < result.RequeueAfter) {
		result = requeue.Background(max(wait, time.Second))
	}
	return result, nil
}

// issue asks for new credentials and writes them as a new version. The
// issued data is kept in memory until the version is written, so a retry
// after an API-server error does not issue again.
func (r *Reconciler) issue(ctx context.Context, es *vfv1alpha1.ExternalSecret, store *resolvedStore, leaser providers.Leaser, owned []corev1.Secret) (*corev1.Secret, error) {
	key := pendingKey(es)
	var lease providers.Lease
	if v, ok := r.pending.Load(key); ok && v.(pendingFetch).generation == es.Generation && v.(pendingFetch).uid == es.UID && v.(pendingFetch).lease != nil {
		lease = *v.(pendingFetch).lease
	} else {
		var err error
		if lease, err = leaser.Issue(ctx, issueRequest(es.Spec.Dynamic, es.Namespace)); err != nil {
			return nil, classify(fmt.Errorf("issuing credentials from %q: %w", es.Spec.Dynamic.Path, err))
		}
		r.pending.Store(key, pendingFetch{uid: es.UID, generation: es.Generation, at: r.now(), lease: &lease})
	}
	shaped := es
	if es.Spec.Dynamic.PKI != nil && (es.Spec.Target.Template == nil || es.Spec.Target.Template.Type == "") {
		shaped = es.DeepCopy() // a certificate is a kubernetes.io/tls Secret unless the template says otherwise
		if shaped.Spec.Target.Template == nil {
			shaped.Spec.Target.Template = &vfv1alpha1.SecretTemplate{}
		}
		shaped.Spec.Target.Template.Type = corev1.SecretTypeTLS
	}
	data := fetched{Data: dynamicData(es.Spec.Dynamic, lease.Data), ExpiresAt: &lease.ExpiresAt}
	want, err := desiredSecret(ctx, shaped, data, templateSources{}, priorVersions{}, r.HashKey)
	if err != nil {
		return nil, err
	}
	terms := leaseTerms{id: lease.ID, expires: lease.ExpiresAt, renewed: r.now(), ttl: lease.TTL, renewable: lease.Renewable}
	if lease.ID != "" {
		terms.binding = leaseBinding(r.HashKey, es, lease.ID)
	}
	terms.annotate(want)
	current, err := r.apply(ctx, es, want, owned)
	if err != nil {
		return nil, err
	}
	r.markSynced(es, current)
	es.Status.StoreGeneration = store.store.GetGeneration()
	log.FromContext(ctx).Info("Issued credentials", "secret", current.Name, "expires", lease.ExpiresAt.UTC().Format(time.RFC3339))
	return current, nil
}

// renewLeases renews the lease of every version that still has one and is
// due, and returns when the next renewal or reissue is due. A lease that
// can no longer be renewed is left to run out (the current one is reissued
// before that; a superseded one goes when nothing uses it), and so is one
// whose path the store no longer grants to the namespace.
func (r *Reconciler) renewLeases(ctx context.Context, es *vfv1alpha1.ExternalSecret, store *resolvedStore, leaser providers.Leaser, owned []corev1.Secret) (time.Time, error) {
	now := r.now()
	var next time.Time
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for i := range owned {
		s := &owned[i]
		terms, ok := r.ownLease(es, s)
		if !ok {
			continue
		}
		if s.Name == es.Status.CurrentSecretName {
			if terms.renewable {
				soonest(terms.expires)
			} else {
				soonest(terms.reissueAt(es.Spec.Dynamic.ReissueBefore))
			}
		}
		if terms.id == "" || !terms.renewable || !now.Before(terms.expires) || !store.mayUseLease(terms.id) {
			continue
		}
		at := terms.renewAt(es.Spec.Dynamic.RenewAfterPercent, s.Name+terms.renewed.String())
		if now.Before(at) {
			soonest(at)
			continue
		}
		renewed, err := leaser.Renew(ctx, terms.id, terms.ttl)
		if r.Metrics != nil {
			r.Metrics.ObserveLeaseRenewal(es, err == nil)
		}
		before := s.DeepCopy()
		switch {
		case errors.Is(err, providers.ErrNotFound), errors.Is(err, providers.ErrInvalid):
			// Vault no longer knows the lease (revoked, expired): stop
			// renewing; the current version is replaced at once.
			terms.renewable = false
			terms.expires = now
		case err != nil:
			return next, classify(fmt.Errorf("renewing the lease of version %s: %w", s.Name, err))
		default:
			// Vault's max TTL shows as a renewal granting less than asked:
			// from then on the lease only runs out, and is replaced in time.
			terms.expires, terms.renewed = renewed.ExpiresAt, now
			terms.renewable = renewed.Renewable && renewed.TTL >= terms.ttl-time.Second
		}
		terms.annotate(s)
		if err := r.Patch(ctx, s, client.MergeFrom(before)); err != nil {
			return next, fmt.Errorf("recording the renewal of version %s: %w", s.Name, err)
		}
		soonest(terms.renewAt(es.Spec.Dynamic.RenewAfterPercent, s.Name+terms.renewed.String()))
	}
	return next, nil
}

// revokeLease ends the lease of a version about to be deleted; a version
// whose lease cannot be revoked now is kept and tried again.
func (r *Reconciler) revokeLease(ctx context.Context, es *vfv1alpha1.ExternalSecret, version *corev1.Secret) error {
	terms, ok := r.ownLease(es, version)
	if !ok || terms.id == "" || !r.now().Before(terms.expires) {
		return nil // no lease of es's, or it ended on its own
	}
	store, err := r.resolveStore(ctx, es)
	if err != nil {
		return err
	}
	if !store.mayUseLease(terms.id) {
		r.Events.Eventf(es, version, corev1.EventTypeWarning, vfv1alpha1.ForbiddenReason, "Revoke",
			"The lease of version %s was not revoked: %s %q no longer grants its path to this namespace; it ends on its own at %s",
			version.Name, store.store.GetKind(), store.store.GetName(), terms.expires.UTC().Format(time.RFC3339))
		return nil
	}
	leaser, err := r.leaser(ctx, store, es)
	if err != nil {
		return err
	}
	if err := leaser.Revoke(ctx, terms.id); err != nil {
		return classify(fmt.Errorf("revoking the lease of version %s: %w", version.Name, err))
	}
	log.FromContext(ctx).Info("Revoked the lease of a superseded version nothing uses", "secret", version.Name)
	return nil
}

// revokeOnDeletion revokes, when a dynamic ExternalSecret is deleted, the
// leases of its versions nothing uses, and with deletionPolicy Delete all of
// them (its versions go with it); with Retain the used ones keep theirs
// until they expire. Then its finalizer goes.
func (r *Reconciler) revokeOnDeletion(ctx context.Context, es *vfv1alpha1.ExternalSecret) error {
	if !controllerutil.ContainsFinalizer(es, vfv1alpha1.LeaseFinalizer) {
		return nil
	}
	owned, err := r.ownedVersions(ctx, es)
	if err != nil {
		return err
	}
	inUse, err := secretsInUse(ctx, r.APIReader, es.Namespace)
	if err != nil {
		return err
	}
	for i := range owned {
		if es.Spec.Target.DeletionPolicy == vfv1alpha1.DeletionPolicyRetain && inUse.Has(owned[i].Name) {
			continue
		}
		if err := r.revokeLease(ctx, es, &owned[i]); err != nil {
			return err
		}
	}
	return r.removeFinalizer(ctx, es, vfv1alpha1.LeaseFinalizer)
}

// recordLeases sets the LeasesHeld condition and the lease metrics from
// the versions that remain after collecting.
func (r *Reconciler) recordLeases(es *vfv1alpha1.ExternalSecret, owned []corev1.Secret) {
	now := r.now()
	current, earliest := 0, time.Time{}
	var held []string
	for i := range owned {
		terms, ok := r.ownLease(es, &owned[i])
		if !ok || !now.Before(terms.expires) || !slices.ContainsFunc(es.Status.Versions, func(v vfv1alpha1.SecretVersion) bool { return v.Name == owned[i].Name }) {
			continue
		}
		if owned[i].Name == es.Status.CurrentSecretName {
			current++
		} else {
			held = append(held, owned[i].Name)
		}
		if earliest.IsZero() || terms.expires.Before(earliest) {
			earliest = terms.expires
		}
	}
	cond := metav1.Condition{Type: vfv1alpha1.LeasesHeldCondition, Status: metav1.ConditionFalse, Reason: vfv1alpha1.NoneHeldReason,
		Message: "No superseded lease is held", ObservedGeneration: es.Generation}
	if len(held) > 0 {
		slices.Sort(held)
		cond.Status, cond.Reason = metav1.ConditionTrue, vfv1alpha1.InUseReason
		cond.Message = fmt.Sprintf("%d superseded leases are held (and renewed) because Pods or pod templates use their versions: %s; each is revoked when nothing uses it",
			len(held), strings.Join(held, ", "))
	}
	apimeta.SetStatusCondition(&es.Status.Conditions, cond)
	if r.Metrics != nil {
		r.Metrics.ObserveLeases(es, current, len(held), earliest)
	}
}
