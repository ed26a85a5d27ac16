package targetindex

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

func TestNewlyServed(t *testing.T) {
	index := func(targets map[string]string) *vfv1alpha1.TargetIndex {
		return &vfv1alpha1.TargetIndex{Targets: targets}
	}
	now := index(map[string]string{"db": "db-v1", "api": "api-v2", "cache": ""})
	for name, tc := range map[string]struct {
		before *vfv1alpha1.TargetIndex
		want   []string
	}{
		"a new index":              {before: nil, want: []string{"api", "db"}},
		"pending before":           {before: index(map[string]string{"db": "", "api": "api-v1", "cache": ""}), want: []string{"db"}},
		"absent before":            {before: index(map[string]string{"api": "api-v1"}), want: []string{"db"}},
		"served before, rotated":   {before: index(map[string]string{"db": "db-v0", "api": "api-v1"}), want: nil},
		"served before, unchanged": {before: index(map[string]string{"db": "db-v1", "api": "api-v1"}), want: nil},
	} {
		t.Run(name, func(t *testing.T) {
			if got := newlyServed(tc.before, now); !slices.Equal(got, tc.want) {
				t.Errorf("newlyServed = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUnresolvedTargets(t *testing.T) {
	pod := func(phase corev1.PodPhase, deleting bool, secrets ...string) *corev1.Pod {
		p := &corev1.Pod{Status: corev1.PodStatus{Phase: phase}}
		if deleting {
			now := metav1.Now()
			p.DeletionTimestamp = &now
		}
		for _, s := range secrets {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: s, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: s}}})
		}
		return p
	}
	targets := []string{"db", "api"}
	for name, tc := range map[string]struct {
		pod  *corev1.Pod
		want []string
	}{
		"pending, names a target":         {pod(corev1.PodPending, false, "db", "other"), []string{"db"}},
		"not yet scheduled (no phase)":    {pod("", false, "api", "db"), []string{"api", "db"}},
		"running: it found a Secret":      {pod(corev1.PodRunning, false, "db"), nil},
		"being deleted":                   {pod(corev1.PodPending, true, "db"), nil},
		"names a version, not the target": {pod(corev1.PodPending, false, "db-v1"), nil},
	} {
		t.Run(name, func(t *testing.T) {
			if got := unresolvedTargets(tc.pod, targets); !slices.Equal(got, tc.want) {
				t.Errorf("unresolvedTargets = %v, want %v", got, tc.want)
			}
		})
	}
}
