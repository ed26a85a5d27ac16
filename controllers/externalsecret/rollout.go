package externalsecret

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;list;patch

// patchOp is one RFC 6902 JSON patch operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value string `json:"value"`
}

// rewrite replaces the Secret name at Path (a JSON pointer) From one version To another.
type rewrite struct {
	Path, From, To string
}

// workload is a Deployment, StatefulSet or DaemonSet with its pod template.
type workload struct {
	kind string
	obj  client.Object
	spec *corev1.PodSpec
}

// rolloutDue says whether workloads should be moved now: the current
// revision is newer than the one last rolled out, or force-sync asked for it.
// Otherwise a `kubectl rollout undo` stays undone.
func rolloutDue(es *vfv1alpha1.ExternalSecret, forced bool) bool {
	return forced || es.Status.Revision > es.Status.RolloutRevision
}

// rollout rewrites references to older versions of es in its rollout targets
// and opted-in workloads to current. Failures set the RolledOut condition;
// they never fail the sync.
func (r *Reconciler) rollout(ctx context.Context, es *vfv1alpha1.ExternalSecret, current string, older sets.Set[string]) {
	if older.Len() == 0 && es.Spec.Rollout == nil {
		es.Status.RolloutRevision = es.Status.Revision // the first version: nothing can reference an older one
		return
	}
	workloads, missing, err := r.rolloutWorkloads(ctx, es)
	if err != nil {
		r.markRollout(es, 0, []string{err.Error()})
		return
	}
	failures := missing
	rolled := 0
	for _, w := range workloads {
		rewrites := referenceRewrites(w.spec, "/spec/template/spec", older, current)
		if len(rewrites) == 0 {
			continue // references no older version of this ExternalSecret: never touched
		}
		if err := r.patchReferences(ctx, w.obj, rewrites); err != nil {
			failures = append(failures, fmt.Sprintf("%s %s: %v", w.kind, w.obj.GetName(), err))
			r.observeRollout(es, w.kind, "Failed")
			continue
		}
		rolled++
		r.observeRollout(es, w.kind, "Success")
		r.Events.Eventf(es, w.obj, corev1.EventTypeNormal, vfv1alpha1.RolloutReason, "Rollout", "Moved %s %s to %s", w.kind, w.obj.GetName(), current)
		r.Events.Eventf(w.obj, es, corev1.EventTypeNormal, vfv1alpha1.RolloutReason, "Rollout", "ExternalSecret %s moved the pod template to %s", es.Name, current)
		log.FromContext(ctx).Info("Rolled out new version", "kind", w.kind, "workload", w.obj.GetName(), "secret", current)
	}
	if len(workloads) > 0 || len(failures) > 0 {
		r.markRollout(es, rolled, failures)
	}
	if len(failures) == 0 {
		es.Status.RolloutRevision = es.Status.Revision
	}
}

func (r *Reconciler) markRollout(es *vfv1alpha1.ExternalSecret, rolled int, failures []string) {
	cond := metav1.Condition{
		Type: vfv1alpha1.RolledOutCondition, Status: metav1.ConditionTrue, Reason: vfv1alpha1.RolloutReason,
		Message: fmt.Sprintf("Rollout targets reference %s (%d moved in this sync)", es.Status.CurrentSecretName, rolled), ObservedGeneration: es.Generation,
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

// rolloutWorkloads finds the workloads es may roll: its targets by name or
// selector, and those annotated with vaultferry.io/rollout naming es. It reads
// the API server directly; rollouts are rare.
func (r *Reconciler) rolloutWorkloads(ctx context.Context, es *vfv1alpha1.ExternalSecret) (found []workload, missing []string, err error) {
	byKind := map[string][]workload{}
	deployments, statefulSets, daemonSets := &appsv1.DeploymentList{}, &appsv1.StatefulSetList{}, &appsv1.DaemonSetList{}
	for _, list := range []client.ObjectList{deployments, statefulSets, daemonSets} {
		if err := r.APIReader.List(ctx, list, client.InNamespace(es.Namespace)); err != nil {
			return nil, nil, fmt.Errorf("listing workloads for rollout: %w", err)
		}
	}
	for i := range deployments.Items {
		d := &deployments.Items[i]
		byKind["Deployment"] = append(byKind["Deployment"], workload{"Deployment", d, &d.Spec.Template.Spec})
	}
	for i := range statefulSets.Items {
		s := &statefulSets.Items[i]
		byKind["StatefulSet"] = append(byKind["StatefulSet"], workload{"StatefulSet", s, &s.Spec.Template.Spec})
	}
	for i := range daemonSets.Items {
		d := &daemonSets.Items[i]
		byKind["DaemonSet"] = append(byKind["DaemonSet"], workload{"DaemonSet", d, &d.Spec.Template.Spec})
	}

	chosen := map[string]workload{}
	choose := func(w workload) { chosen[w.kind+"/"+w.obj.GetName()] = w }
	if es.Spec.Rollout != nil {
		for _, t := range es.Spec.Rollout.Targets {
			matched := false
			for _, w := range byKind[t.Kind] {
				if ok, err := targetMatches(t, w.obj); err != nil {
					return nil, nil, err
				} else if ok {
					choose(w)
					matched = true
				}
			}
			if !matched && t.Name != "" {
				missing = append(missing, fmt.Sprintf("%s %s not found", t.Kind, t.Name))
			}
		}
	}
	for _, ws := range byKind {
		for _, w := range ws {
			if optedIn(w.obj, es.Name) {
				choose(w)
			}
		}
	}
	for _, key := range sets.List(sets.KeySet(chosen)) {
		found = append(found, chosen[key])
	}
	return found, missing, nil
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

// patchReferences applies the rewrites with a test before every replace, so
// a template changed meanwhile is refused rather than overwritten, and nothing
// else in the object is touched.
func (r *Reconciler) patchReferences(ctx context.Context, obj client.Object, rewrites []rewrite) error {
	ops := make([]patchOp, 0, 2*len(rewrites))
	for _, rw := range rewrites {
		ops = append(ops, patchOp{Op: "test", Path: rw.Path, Value: rw.From}, patchOp{Op: "replace", Path: rw.Path, Value: rw.To})
	}
	body, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	return r.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, body))
}

// referenceRewrites finds every reference in spec to a name in older and
// says how to point it at current. prefix is the JSON pointer of spec in its
// object. No I/O.
func referenceRewrites(spec *corev1.PodSpec, prefix string, older sets.Set[string], current string) []rewrite {
	var out []rewrite
	add := func(path, name string) {
		if name != current && older.Has(name) {
			out = append(out, rewrite{Path: prefix + path, From: name, To: current})
		}
	}
	for i, v := range spec.Volumes {
		if v.Secret != nil {
			add(fmt.Sprintf("/volumes/%d/secret/secretName", i), v.Secret.SecretName)
		}
		if v.Projected != nil {
			for j, src := range v.Projected.Sources {
				if src.Secret != nil {
					add(fmt.Sprintf("/volumes/%d/projected/sources/%d/secret/name", i, j), src.Secret.Name)
				}
			}
		}
	}
	containers := func(field string, cs []corev1.Container) {
		for i, c := range cs {
			for j, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					add(fmt.Sprintf("/%s/%d/env/%d/valueFrom/secretKeyRef/name", field, i, j), e.ValueFrom.SecretKeyRef.Name)
				}
			}
			for j, e := range c.EnvFrom {
				if e.SecretRef != nil {
					add(fmt.Sprintf("/%s/%d/envFrom/%d/secretRef/name", field, i, j), e.SecretRef.Name)
				}
			}
		}
	}
	containers("initContainers", spec.InitContainers)
	containers("containers", spec.Containers)
	for i, s := range spec.ImagePullSecrets {
		add(fmt.Sprintf("/imagePullSecrets/%d/name", i), s.Name)
	}
	return out
}
