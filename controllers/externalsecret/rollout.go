package externalsecret

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/pins"
	"github.com/vaultferry/vaultferry/controllers/podrefs"
)

// DefaultRolloutBatchWindow is how long a new version waits before its
// workloads roll, so that ExternalSecrets rotating together roll a workload
// once.
const DefaultRolloutBatchWindow = 2 * time.Second

// fieldOwner names the operator in managedFields: the pins and rewritten
// references it writes on workloads are its fields, not the GitOps tool's.
const fieldOwner = client.FieldOwner(pins.FieldManager)

// patchOp is one RFC 6902 JSON patch operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// rewrite replaces the Secret name at Path (a JSON pointer) From one version To another.
type rewrite struct {
	Path, From, To string
}

// rolloutPlan is what moving one workload to the current versions writes:
// pins read by the admission policy and rewrites of references to older
// versions by name. One plan is one patch, so one rollout.
type rolloutPlan struct {
	workload workload
	pins     map[string]string // annotation key -> version
	rewrites []rewrite
}

func (p rolloutPlan) empty() bool { return len(p.pins) == 0 && len(p.rewrites) == 0 }

// versionsNamed lists the versions the plan moves to, for events.
func (p rolloutPlan) versionsNamed() []string {
	names := sets.New[string]()
	for _, v := range p.pins {
		names.Insert(v)
	}
	for _, rw := range p.rewrites {
		names.Insert(rw.To)
	}
	return sets.List(names)
}

// rolloutDue says whether workloads should be moved to es's served version:
// the current one is newer than the one last rolled out (force-sync lowers
// that mark), or a hold was set, changed or released since. Otherwise a
// `kubectl rollout undo` stays undone.
func rolloutDue(es *vfv1alpha1.ExternalSecret) bool {
	return es.Status.CurrentSecretName != "" &&
		(es.Status.Revision > es.Status.RolloutRevision || es.Status.HeldVersion != es.Status.RolloutHeldVersion)
}

// markRolledOut records that workloads use what es serves now.
func markRolledOut(es *vfv1alpha1.ExternalSecret) {
	es.Status.RolloutRevision = es.Status.Revision
	es.Status.RolloutHeldVersion = es.Status.HeldVersion
}

// rolloutWait is how long es's rollout waits for ExternalSecrets rotating
// with it: the batch window from its last sync. No I/O.
func rolloutWait(es *vfv1alpha1.ExternalSecret, window time.Duration, now time.Time) time.Duration {
	if es.Status.RefreshTime == nil {
		return 0
	}
	return max(es.Status.RefreshTime.Add(window).Sub(now), 0)
}

// rolloutWhenDue moves the workloads using es to its current version once
// the batch window has passed, and returns how long to wait otherwise. The
// rollout also carries every other ExternalSecret of the namespace whose
// rollout is due, so a workload using several rolls once. Failures set the
// RolledOut condition; they never fail the sync.
func (r *Reconciler) rolloutWhenDue(ctx context.Context, es *vfv1alpha1.ExternalSecret, owned []corev1.Secret) time.Duration {
	if !rolloutDue(es) {
		return 0
	}
	current := es.ServedVersion()
	older := olderVersions(es, owned, current)
	if older.Len() == 0 && es.Spec.Rollout == nil {
		markRolledOut(es) // the first version: admission gives it to new Pods
		return 0
	}
	if wait := rolloutWait(es, orDefault(r.RolloutBatchWindow, DefaultRolloutBatchWindow), r.now()); wait > 0 {
		return wait
	}
	if r.StableReferences && !r.indexed(ctx, es) {
		// Pods of the rolled workloads would pin a version admission does not know yet.
		return time.Second
	}
	due, err := r.dueWith(ctx, es)
	if err != nil {
		r.markRollout(es, 0, []string{err.Error()})
		return 0
	}
	workloads, err := listWorkloads(ctx, r.APIReader, es.Namespace, rolledKinds)
	if err != nil {
		r.markRollout(es, 0, []string{err.Error()})
		return 0
	}
	plans, missing, err := planRollouts(workloads, due, older, r.StableReferences)
	if err != nil {
		r.markRollout(es, 0, []string{err.Error()})
		return 0
	}
	failures := missing
	var rolled []rolloutPlan
	for _, p := range plans {
		w := p.workload
		if err := r.patchWorkload(ctx, p); err != nil {
			failures = append(failures, fmt.Sprintf("%s %s: %v", w.kind, w.obj.GetName(), err))
			r.observeRollout(es, w.kind, "Failed")
			continue
		}
		rolled = append(rolled, p)
		moved := strings.Join(p.versionsNamed(), ", ")
		r.observeRollout(es, w.kind, "Success")
		r.Events.Eventf(es, w.obj, corev1.EventTypeNormal, vfv1alpha1.RolloutReason, "Rollout", "Moved %s %s to %s", w.kind, w.obj.GetName(), moved)
		r.Events.Eventf(w.obj, es, corev1.EventTypeNormal, vfv1alpha1.RolloutReason, "Rollout", "Rolled to %s (ExternalSecret %s)", moved, es.Name)
		log.FromContext(ctx).Info("Rolled out new version", "kind", w.kind, "workload", w.obj.GetName(), "secrets", moved)
	}
	if r.StableReferences && len(rolled) > 0 {
		// Only now: pinning the ReplicaSet that still matches a Deployment's
		// template would make the Deployment controller create another.
		failures = append(failures, r.pinHistory(ctx, es.Namespace, rolled, due)...)
	}
	if len(plans) > 0 || len(failures) > 0 || es.Spec.Rollout != nil {
		r.markRollout(es, len(rolled), failures)
	}
	if len(failures) == 0 {
		markRolledOut(es)
	}
	return 0
}

// pinHistory pins the versions that the older ReplicaSets of the rolled
// Deployments run, so that `kubectl rollout undo` returns to exactly those.
// It returns what it could not pin. Pinning an old ReplicaSet rolls nothing.
func (r *Reconciler) pinHistory(ctx context.Context, namespace string, rolled []rolloutPlan, due []*vfv1alpha1.ExternalSecret) (failures []string) {
	history, err := listWorkloads(ctx, r.APIReader, namespace, []string{"ReplicaSet", "Pod"})
	if err != nil {
		return []string{err.Error()}
	}
	for _, p := range historyPlans(rolled, history, due) {
		if err := r.patchWorkload(ctx, p); err != nil {
			failures = append(failures, fmt.Sprintf("pinning ReplicaSet %s for undo: %v", p.workload.obj.GetName(), err))
		}
	}
	return failures
}

// historyPlans pins, on the ReplicaSets of the Deployments in rolled that
// name a due ExternalSecret's target without a pin, the version their Pods
// hold (or, with no Pods, the newest version older than the ReplicaSet):
// admission gave those Pods the then-current version, and without a pin an
// undo would give the current one. history holds ReplicaSets and Pods. No I/O.
func historyPlans(rolled []rolloutPlan, history []workload, due []*vfv1alpha1.ExternalSecret) []rolloutPlan {
	deployments := sets.New[types.UID]()
	for _, p := range rolled {
		if p.workload.kind == "Deployment" && len(p.pins) > 0 {
			deployments.Insert(p.workload.obj.GetUID())
		}
	}
	var plans []rolloutPlan
	for _, rs := range history {
		owner := metav1.GetControllerOf(rs.obj)
		if rs.kind != "ReplicaSet" || owner == nil || !deployments.Has(owner.UID) {
			continue
		}
		p := rolloutPlan{workload: rs, pins: map[string]string{}}
		for _, es := range due {
			pin := podrefs.PinAnnotation(es.TargetBaseName())
			if _, pinned := rs.template.Annotations[pin]; pinned || !es.IsImmutable() || !podrefs.References(&rs.template.Spec, es.TargetBaseName()) {
				continue
			}
			if held := versionHeld(rs, history, es); held != "" {
				p.pins[pin] = held
			}
		}
		if !p.empty() {
			plans = append(plans, p)
		}
	}
	return plans
}

// versionHeld is the version of es that the Pods of ReplicaSet rs hold, or
// with no Pods the newest version created before rs.
func versionHeld(rs workload, history []workload, es *vfv1alpha1.ExternalSecret) string {
	versions := sets.New[string]()
	for _, v := range es.Status.Versions {
		versions.Insert(v.Name)
	}
	for _, pod := range history {
		if owner := metav1.GetControllerOf(pod.obj); pod.kind != "Pod" || owner == nil || owner.UID != rs.obj.GetUID() {
			continue
		}
		for _, name := range podrefs.Names(&pod.template.Spec) {
			if versions.Has(name) {
				return name
			}
		}
	}
	held, heldAt := "", time.Time{}
	for _, v := range es.Status.Versions {
		if created := v.CreatedAt.Time; !created.After(rs.obj.GetCreationTimestamp().Time) && created.After(heldAt) {
			held, heldAt = v.Name, created
		}
	}
	return held
}

// indexed says whether the namespace's TargetIndex, which admission reads,
// already lists es's current version.
func (r *Reconciler) indexed(ctx context.Context, es *vfv1alpha1.ExternalSecret) bool {
	index := &vfv1alpha1.TargetIndex{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: es.Namespace, Name: vfv1alpha1.TargetIndexName}, index); err != nil {
		return false
	}
	return index.Targets[es.TargetBaseName()] == es.ServedVersion()
}

// dueWith lists es and the other ExternalSecrets of its namespace whose
// rollout is due, from the cache.
func (r *Reconciler) dueWith(ctx context.Context, es *vfv1alpha1.ExternalSecret) ([]*vfv1alpha1.ExternalSecret, error) {
	list := &vfv1alpha1.ExternalSecretList{}
	if err := r.List(ctx, list, client.InNamespace(es.Namespace)); err != nil {
		return nil, fmt.Errorf("listing ExternalSecrets rotating with %s: %w", es.Name, err)
	}
	due := []*vfv1alpha1.ExternalSecret{es}
	for i := range list.Items {
		other := &list.Items[i]
		if other.Name != es.Name && other.DeletionTimestamp.IsZero() && rolloutDue(other) {
			due = append(due, other)
		}
	}
	return due, nil
}

// planRollouts computes one plan per workload that uses a due ExternalSecret
// (the first of due is the one reconciling; olderFirst are its older
// versions, the others' come from their status). A workload that names the
// target or already pins it gets the pin of the current version (only with
// the stable-reference policies: pinning is true); a rollout target or opted-in
// workload gets its references to older versions rewritten. Plans that change
// nothing are left out. No I/O.
func planRollouts(workloads []workload, due []*vfv1alpha1.ExternalSecret, olderFirst sets.Set[string], pinning bool) (plans []rolloutPlan, missing []string, err error) {
	byWorkload := map[string]*rolloutPlan{}
	for i, es := range due {
		older := olderFirst
		if i > 0 {
			older = olderOf(es)
		}
		targeted, notFound, err := targetedBy(es, workloads)
		if err != nil {
			return nil, nil, err
		}
		if i == 0 {
			missing = notFound
		}
		for _, w := range workloads {
			key := w.kind + "/" + w.obj.GetName()
			p := byWorkload[key]
			if p == nil {
				p = &rolloutPlan{workload: w, pins: map[string]string{}}
				byWorkload[key] = p
			}
			addToPlan(p, es, older, targeted.Has(key), pinning)
		}
	}
	for _, key := range sets.List(sets.KeySet(byWorkload)) {
		if p := byWorkload[key]; !p.empty() {
			plans = append(plans, *p)
		}
	}
	return plans, missing, nil
}

// addToPlan adds what moving w to es's served version writes. No I/O.
func addToPlan(p *rolloutPlan, es *vfv1alpha1.ExternalSecret, older sets.Set[string], targeted, pinning bool) {
	current := es.ServedVersion()
	tmpl := p.workload.template
	if pinning && es.IsImmutable() {
		pin := podrefs.PinAnnotation(es.TargetBaseName())
		pinned, hasPin := tmpl.Annotations[pin]
		if (hasPin || podrefs.References(&tmpl.Spec, es.TargetBaseName())) && pinned != current {
			p.pins[pin] = current
		}
	}
	if !targeted {
		return
	}
	for _, ref := range podrefs.SecretReferences(&tmpl.Spec) {
		if ref.Name != current && older.Has(ref.Name) {
			p.rewrites = append(p.rewrites, rewrite{Path: "/spec/template/spec" + ref.Path, From: ref.Name, To: current})
		}
	}
}

// targetedBy lists the workloads es's rollout targets and opt-in annotations
// name (as kind/name), and the named targets that do not exist.
func targetedBy(es *vfv1alpha1.ExternalSecret, workloads []workload) (sets.Set[string], []string, error) {
	chosen := sets.New[string]()
	var missing []string
	if es.Spec.Rollout != nil {
		for _, t := range es.Spec.Rollout.Targets {
			matched := false
			for _, w := range workloads {
				if w.kind != t.Kind {
					continue
				}
				ok, err := targetMatches(t, w.obj)
				if err != nil {
					return nil, nil, err
				}
				if ok {
					chosen.Insert(w.kind + "/" + w.obj.GetName())
					matched = true
				}
			}
			if !matched && t.Name != "" {
				missing = append(missing, fmt.Sprintf("%s %s not found", t.Kind, t.Name))
			}
		}
	}
	for _, w := range workloads {
		if optedIn(w.obj, es.Name) {
			chosen.Insert(w.kind + "/" + w.obj.GetName())
		}
	}
	return chosen, missing, nil
}

// olderOf names the versions of es other than its served one, from status.
func olderOf(es *vfv1alpha1.ExternalSecret) sets.Set[string] {
	older := sets.New[string]()
	for _, v := range es.Status.Versions {
		if v.Name != es.ServedVersion() {
			older.Insert(v.Name)
		}
	}
	return older
}

func (r *Reconciler) markRollout(es *vfv1alpha1.ExternalSecret, rolled int, failures []string) {
	cond := metav1.Condition{
		Type: vfv1alpha1.RolledOutCondition, Status: metav1.ConditionTrue, Reason: vfv1alpha1.RolloutReason,
		Message: fmt.Sprintf("Workloads use %s (%d rolled in this sync)", es.ServedVersion(), rolled), ObservedGeneration: es.Generation,
	}
	if len(failures) > 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, vfv1alpha1.RolloutFailedReason
		cond.Message = "Could not move: " + strings.Join(failures, "; ")
		r.Events.Eventf(es, nil, corev1.EventTypeWarning, vfv1alpha1.RolloutFailedReason, "Rollout", "%s", cond.Message)
	}
	apimeta.SetStatusCondition(&es.Status.Conditions, cond)
}

func (r *Reconciler) observeRollout(es *vfv1alpha1.ExternalSecret, kind, result string) {
	if r.Metrics != nil {
		r.Metrics.ObserveRollout(es, kind, result)
	}
}

func targetMatches(t vfv1alpha1.RolloutTarget, obj client.Object) (bool, error) {
	if t.Name != "" {
		return obj.GetName() == t.Name, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(t.Selector)
	if err != nil {
		return false, fmt.Errorf("rollout target selector: %w", err)
	}
	return sel.Matches(labels.Set(obj.GetLabels())), nil
}

func optedIn(obj client.Object, esName string) bool {
	for _, name := range strings.Split(obj.GetAnnotations()[vfv1alpha1.RolloutAnnotation], ",") {
		if strings.TrimSpace(name) == esName {
			return true
		}
	}
	return false
}

// patchWorkload writes a plan. Rewrites go in one JSON patch, with a test
// before every replaced reference so that a template changed meanwhile is
// refused rather than overwritten; it carries the pins too, so a workload
// rolls once. On the kinds a GitOps engine applies, the pins are then
// applied under the operator's field manager (a no-op change after the
// patch), so that the engine's next apply keeps them.
func (r *Reconciler) patchWorkload(ctx context.Context, p rolloutPlan) error {
	applied := slices.Contains(rolledKinds, p.workload.kind) && len(p.pins) > 0
	if len(p.rewrites) > 0 || !applied {
		body, err := json.Marshal(planPatch(p))
		if err != nil {
			return err
		}
		if err := r.Patch(ctx, p.workload.obj, client.RawPatch(types.JSONPatchType, body), fieldOwner); err != nil {
			return err
		}
	}
	if !applied {
		return nil
	}
	return pins.Apply(ctx, r.Client, p.workload.kind, p.workload.obj, pins.On(p.workload.template), p.pins, false)
}

// planPatch is the JSON patch of a plan. No I/O.
func planPatch(p rolloutPlan) []patchOp {
	ops := make([]patchOp, 0, 2*len(p.rewrites)+len(p.pins)+1)
	for _, rw := range p.rewrites {
		ops = append(ops, patchOp{Op: "test", Path: rw.Path, Value: rw.From}, patchOp{Op: "replace", Path: rw.Path, Value: rw.To})
	}
	if len(p.pins) == 0 {
		return ops
	}
	if p.workload.template.Annotations == nil {
		return append(ops, patchOp{Op: "add", Path: "/spec/template/metadata/annotations", Value: p.pins})
	}
	for _, k := range slices.Sorted(maps.Keys(p.pins)) {
		ops = append(ops, patchOp{Op: "add", Path: "/spec/template/metadata/annotations/" + jsonPointerEscape(k), Value: p.pins[k]})
	}
	return ops
}

// jsonPointerEscape escapes a map key for a JSON pointer (RFC 6901).
func jsonPointerEscape(key string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}
