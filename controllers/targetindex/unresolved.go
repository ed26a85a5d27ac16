package targetindex

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/pins"
	"github.com/vaultferry/vaultferry/controllers/podrefs"
	"github.com/vaultferry/vaultferry/controllers/workloadpins"
)

// +kubebuilder:rbac:groups="",resources=pods;secrets,verbs=get;list
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;patch

// newlyServed lists the targets that index serves a version for and
// before did not (before is nil when the index did not exist). No I/O.
func newlyServed(before, index *vfv1alpha1.TargetIndex) []string {
	var out []string
	for target, version := range index.Targets {
		if version != "" && (before == nil || before.Targets[target] == "") {
			out = append(out, target)
		}
	}
	sort.Strings(out)
	return out
}

// workloadRef is a workload whose pod template the operator can pin.
type workloadRef struct {
	kind, name string
}

// resolveUnresolvedPods finds the Pods that were admitted before their
// target was indexed and so name it as written, a Secret that never exists
// (Flux applies a Kustomization's Deployments before its custom resources,
// so an app and its new ExternalSecret in one Kustomization meet this): they
// stay Pending. Once the index serves a version, the workloads that own
// them are pinned to it, which rolls them; the new Pods are admitted with
// the version and the rolling update replaces the stuck ones. A Pod no
// workload owns gets an event saying to re-create it. Runs only for targets
// that just got their first served version.
func (r *Reconciler) resolveUnresolvedPods(ctx context.Context, namespace string, index *vfv1alpha1.TargetIndex, targets []string) error {
	missing, err := r.targetsWithoutSecret(ctx, namespace, targets)
	if err != nil || len(missing) == 0 {
		return err
	}
	pods := &corev1.PodList{}
	if err := r.APIReader.List(ctx, pods, client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("listing Pods of %s: %w", namespace, err)
	}
	toPin := map[workloadRef]map[string]string{}
	deployments := map[string]*workloadRef{} // by ReplicaSet: read once for all its Pods
	for i := range pods.Items {
		pod := &pods.Items[i]
		named := unresolvedTargets(pod, missing)
		if len(named) == 0 {
			continue
		}
		owner, err := r.workloadOf(ctx, pod, deployments)
		if err != nil {
			return err
		}
		if owner == nil {
			r.Events.Eventf(pod, nil, corev1.EventTypeWarning, vfv1alpha1.UnresolvedPodReason, "Resolve",
				"Pod was created before Secret name %s was indexed and names a Secret that never exists: delete and re-create it, and it gets version %s",
				named[0], index.Targets[named[0]])
			continue
		}
		if toPin[*owner] == nil {
			toPin[*owner] = map[string]string{}
		}
		for _, target := range named {
			toPin[*owner][podrefs.PinAnnotation(target)] = index.Targets[target]
		}
	}
	for owner, want := range toPin {
		if err := r.pin(ctx, namespace, owner, want); err != nil {
			return err
		}
	}
	return nil
}

// targetsWithoutSecret keeps the targets no Secret of that very name
// exists for: a Pod naming one of those cannot start.
func (r *Reconciler) targetsWithoutSecret(ctx context.Context, namespace string, targets []string) ([]string, error) {
	var out []string
	for _, target := range targets {
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: target}, &corev1.Secret{})
		switch {
		case apierrors.IsNotFound(err):
			out = append(out, target)
		case err != nil:
			return nil, fmt.Errorf("reading Secret %s: %w", target, err)
		}
	}
	return out, nil
}

// unresolvedTargets lists the targets a Pod that has not started names as
// written. No I/O.
func unresolvedTargets(pod *corev1.Pod, targets []string) []string {
	if !pod.DeletionTimestamp.IsZero() || pod.Status.Phase != corev1.PodPending && pod.Status.Phase != "" {
		return nil
	}
	var out []string
	for _, name := range podrefs.Names(&pod.Spec) {
		if slices.Contains(targets, name) && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// workloadOf follows a Pod's controller to the Deployment, StatefulSet or
// DaemonSet whose pod template made it (nil when there is none).
// deployments remembers the Deployment of each ReplicaSet already read.
func (r *Reconciler) workloadOf(ctx context.Context, pod *corev1.Pod, deployments map[string]*workloadRef) (*workloadRef, error) {
	owner := metav1.GetControllerOf(pod)
	if owner == nil || !strings.HasPrefix(owner.APIVersion, "apps/") {
		return nil, nil
	}
	switch owner.Kind {
	case "StatefulSet", "DaemonSet":
		return &workloadRef{owner.Kind, owner.Name}, nil
	case "ReplicaSet":
		if d, seen := deployments[owner.Name]; seen {
			return d, nil
		}
		rs := &appsv1.ReplicaSet{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: owner.Name}, rs); client.IgnoreNotFound(err) != nil {
			return nil, err
		}
		var d *workloadRef
		if c := metav1.GetControllerOf(rs); c != nil && c.Kind == "Deployment" && strings.HasPrefix(c.APIVersion, "apps/") {
			d = &workloadRef{c.Kind, c.Name}
		}
		deployments[owner.Name] = d
		return d, nil
	}
	return nil, nil
}

// pin applies want on the workload's pod template, keeping its other pins.
func (r *Reconciler) pin(ctx context.Context, namespace string, ref workloadRef, want map[string]string) error {
	kind, ok := workloadpins.KindNamed(ref.kind)
	if !ok {
		return nil
	}
	obj := kind.New()
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.name}, obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	current := pins.On(kind.Template(obj))
	if equalOn(current, want) {
		return nil
	}
	if err := pins.Apply(ctx, r.Client, ref.kind, obj, current, want, false); err != nil {
		return err
	}
	versions := slices.Sorted(maps.Values(want))
	r.Events.Eventf(obj, nil, corev1.EventTypeNormal, vfv1alpha1.UnresolvedPodReason, "Resolve",
		"Pods were created before their Secret names were indexed and name Secrets that never exist: pinned %s, which rolls them", strings.Join(versions, ", "))
	log.FromContext(ctx).Info("Pinned a workload whose Pods were admitted before their target was indexed", "kind", ref.kind, "name", ref.name, "versions", versions)
	return nil
}

// equalOn says whether every pin of want is already on the template.
func equalOn(current, want map[string]string) bool {
	for k, v := range want {
		if current[k] != v {
			return false
		}
	}
	return true
}
