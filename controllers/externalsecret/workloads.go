package externalsecret

import (
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vaultferry/vaultferry/controllers/podrefs"
	"github.com/vaultferry/vaultferry/controllers/workloadpins"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list;patch
// +kubebuilder:rbac:groups=batch,resources=jobs;cronjobs,verbs=get;list

// workload is an object with a pod template (or a Pod, whose template is
// itself), as the rollout and the in-use check see it.
type workload struct {
	kind     string
	obj      client.Object
	template *corev1.PodTemplateSpec
}

// The kinds a namespace is listed for. Rollouts move the kinds whose pins
// the operator co-owns (workloadpins.Kinds); a version is in use while any
// of usingKinds references it.
var (
	rolledKinds = workloadpins.KindNames()
	usingKinds  = append(slices.Clone(rolledKinds), "ReplicaSet", "Job", "CronJob", "Pod")
)

// listWorkloads lists the objects of kinds in namespace, reading the API
// server directly: the cache keeps of workloads only their pins (see
// workloadpins.Kind.CacheTransform), and both callers run
// only when a version changes or is about to be pruned.
func listWorkloads(ctx context.Context, reader client.Reader, namespace string, kinds []string) ([]workload, error) {
	var out []workload
	for _, kind := range kinds {
		list, items := workloadList(kind)
		if err := reader.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return nil, fmt.Errorf("listing %ss in %s: %w", kind, namespace, err)
		}
		out = append(out, items()...)
	}
	return out, nil
}

// workloadList is the list type of kind and how to read its items.
func workloadList(kind string) (client.ObjectList, func() []workload) {
	switch kind {
	case "Deployment":
		l := &appsv1.DeploymentList{}
		return l, func() []workload {
			return each(l.Items, kind, func(o *appsv1.Deployment) *corev1.PodTemplateSpec { return &o.Spec.Template })
		}
	case "StatefulSet":
		l := &appsv1.StatefulSetList{}
		return l, func() []workload {
			return each(l.Items, kind, func(o *appsv1.StatefulSet) *corev1.PodTemplateSpec { return &o.Spec.Template })
		}
	case "DaemonSet":
		l := &appsv1.DaemonSetList{}
		return l, func() []workload {
			return each(l.Items, kind, func(o *appsv1.DaemonSet) *corev1.PodTemplateSpec { return &o.Spec.Template })
		}
	case "ReplicaSet":
		l := &appsv1.ReplicaSetList{}
		return l, func() []workload {
			return each(l.Items, kind, func(o *appsv1.ReplicaSet) *corev1.PodTemplateSpec { return &o.Spec.Template })
		}
	case "Job":
		l := &batchv1.JobList{}
		return l, func() []workload {
			return each(l.Items, kind, func(o *batchv1.Job) *corev1.PodTemplateSpec { return &o.Spec.Template })
		}
	case "CronJob":
		l := &batchv1.CronJobList{}
		return l, func() []workload {
			return each(l.Items, kind, func(o *batchv1.CronJob) *corev1.PodTemplateSpec { return &o.Spec.JobTemplate.Spec.Template })
		}
	case "Pod":
		l := &corev1.PodList{}
		return l, func() []workload {
			return each(l.Items, kind, func(o *corev1.Pod) *corev1.PodTemplateSpec {
				return &corev1.PodTemplateSpec{ObjectMeta: o.ObjectMeta, Spec: o.Spec}
			})
		}
	}
	panic("unknown workload kind " + kind)
}

// each wraps the items of a list as workloads.
func each[T any, PT interface {
	*T
	client.Object
}](items []T, kind string, template func(PT) *corev1.PodTemplateSpec) []workload {
	out := make([]workload, len(items))
	for i := range items {
		obj := PT(&items[i])
		out[i] = workload{kind: kind, obj: obj, template: template(obj)}
	}
	return out
}

// secretsInUse lists the Secrets that Pods hold and that the pod templates
// of workloads (including the ReplicaSets a Deployment keeps for undo) name
// or pin in namespace.
func secretsInUse(ctx context.Context, reader client.Reader, namespace string) (sets.Set[string], error) {
	workloads, err := listWorkloads(ctx, reader, namespace, usingKinds)
	if err != nil {
		return nil, fmt.Errorf("finding Secrets in use: %w", err)
	}
	inUse := sets.New[string]()
	for _, w := range workloads {
		inUse.Insert(podrefs.Names(&w.template.Spec)...)
		inUse.Insert(podrefs.Pins(w.template.Annotations)...)
	}
	return inUse, nil
}
