package externalsecret

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// pruneCandidates returns the versions retention no longer asks to keep:
// not the current one, not among the newest limit versions (the current one
// counts), and superseded longer than minRetention ago. Whether a workload
// still uses them is checked by the caller. versions must be sorted newest
// first. No I/O, no clock.
func pruneCandidates(versions []vfv1alpha1.SecretVersion, current string, limit int, minRetention time.Duration, now time.Time) []string {
	var out []string
	kept := 0
	for _, v := range versions {
		if v.Name == current || kept < limit {
			kept++
			continue
		}
		if v.SupersededAt != nil && now.Sub(v.SupersededAt.Time) < minRetention {
			continue
		}
		out = append(out, v.Name)
	}
	return out
}

// sortNewestFirst orders versions by revision, the only reliable order:
// creation time ties within a second and a reverted-to version is re-stamped.
func sortNewestFirst(versions []vfv1alpha1.SecretVersion) {
	slices.SortStableFunc(versions, func(a, b vfv1alpha1.SecretVersion) int {
		switch {
		case a.Revision > b.Revision:
			return -1
		case a.Revision < b.Revision:
			return 1
		}
		return 0
	})
}

// secretsInUse lists the Secrets referenced by Pods and by the pod templates
// of Deployments, StatefulSets, DaemonSets, Jobs and CronJobs in namespace.
// It reads the API server directly and only when there is something to
// prune, so the operator caches no Pods.
func secretsInUse(ctx context.Context, reader client.Reader, namespace string) (sets.Set[string], error) {
	inUse := sets.New[string]()
	var specs []*corev1.PodSpec

	pods := &corev1.PodList{}
	deployments := &appsv1.DeploymentList{}
	statefulSets := &appsv1.StatefulSetList{}
	daemonSets := &appsv1.DaemonSetList{}
	jobs := &batchv1.JobList{}
	cronJobs := &batchv1.CronJobList{}
	for _, list := range []client.ObjectList{pods, deployments, statefulSets, daemonSets, jobs, cronJobs} {
		if err := reader.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return nil, fmt.Errorf("listing %T to find Secrets in use: %w", list, err)
		}
	}
	for i := range pods.Items {
		specs = append(specs, &pods.Items[i].Spec)
	}
	for i := range deployments.Items {
		specs = append(specs, &deployments.Items[i].Spec.Template.Spec)
	}
	for i := range statefulSets.Items {
		specs = append(specs, &statefulSets.Items[i].Spec.Template.Spec)
	}
	for i := range daemonSets.Items {
		specs = append(specs, &daemonSets.Items[i].Spec.Template.Spec)
	}
	for i := range jobs.Items {
		specs = append(specs, &jobs.Items[i].Spec.Template.Spec)
	}
	for i := range cronJobs.Items {
		specs = append(specs, &cronJobs.Items[i].Spec.JobTemplate.Spec.Template.Spec)
	}
	for _, spec := range specs {
		inUse.Insert(SecretsReferencedBy(spec)...)
	}
	return inUse, nil
}

// SecretsReferencedBy lists every Secret a pod spec names: secret and
// projected volumes, env and envFrom in all containers, image pull secrets.
func SecretsReferencedBy(spec *corev1.PodSpec) []string {
	var names []string
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			names = append(names, v.Secret.SecretName)
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					names = append(names, src.Secret.Name)
				}
			}
		}
	}
	visit := func(env []corev1.EnvVar, envFrom []corev1.EnvFromSource) {
		for _, e := range env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				names = append(names, e.ValueFrom.SecretKeyRef.Name)
			}
		}
		for _, e := range envFrom {
			if e.SecretRef != nil {
				names = append(names, e.SecretRef.Name)
			}
		}
	}
	for _, c := range spec.InitContainers {
		visit(c.Env, c.EnvFrom)
	}
	for _, c := range spec.Containers {
		visit(c.Env, c.EnvFrom)
	}
	for _, c := range spec.EphemeralContainers {
		visit(c.Env, c.EnvFrom)
	}
	for _, s := range spec.ImagePullSecrets {
		names = append(names, s.Name)
	}
	return names
}
