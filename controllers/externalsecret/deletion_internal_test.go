package externalsecret

import (
	"maps"
	"slices"
	"testing"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestWantedFinalizers(t *testing.T) {
	for name, tc := range map[string]struct {
		policy  vfv1alpha1.DeletionPolicy
		dynamic bool
		want    []string
	}{
		"default policy":   {want: nil},
		"Delete":           {policy: vfv1alpha1.DeletionPolicyDelete, want: nil},
		"Retain":           {policy: vfv1alpha1.DeletionPolicyRetain, want: []string{vfv1alpha1.RetainFinalizer}},
		"dynamic, Delete":  {policy: vfv1alpha1.DeletionPolicyDelete, dynamic: true, want: []string{vfv1alpha1.LeaseFinalizer}},
		"dynamic, Retain":  {policy: vfv1alpha1.DeletionPolicyRetain, dynamic: true, want: []string{vfv1alpha1.LeaseFinalizer, vfv1alpha1.RetainFinalizer}},
		"dynamic, default": {dynamic: true, want: []string{vfv1alpha1.LeaseFinalizer}},
	} {
		t.Run(name, func(t *testing.T) {
			es := &vfv1alpha1.ExternalSecret{}
			es.Spec.Target.DeletionPolicy = tc.policy
			if tc.dynamic {
				es.Spec.Dynamic = &vfv1alpha1.DynamicSource{}
			}
			var got []string
			for finalizer, on := range wantedFinalizers(es) {
				if on {
					got = append(got, finalizer)
				}
			}
			slices.Sort(got)
			slices.Sort(tc.want)
			if !slices.Equal(got, tc.want) {
				t.Errorf("finalizers = %v, want %v (of %v)", got, tc.want, slices.Sorted(maps.Keys(wantedFinalizers(es))))
			}
		})
	}
}

func TestAdoptable(t *testing.T) {
	es := &vfv1alpha1.ExternalSecret{ObjectMeta: metav1.ObjectMeta{Name: "db", UID: "new"}}
	controller := func(kind, name, uid string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: vfv1alpha1.GroupVersion.String(), Kind: kind, Name: name, UID: types.UID(uid), Controller: new(true)}}
	}
	ours := map[string]string{vfv1alpha1.ManagedLabel: "true", vfv1alpha1.ExternalSecretLabel: "db"}
	for name, tc := range map[string]struct {
		labels map[string]string
		owners []metav1.OwnerReference
		want   bool
	}{
		"released by Retain":                             {labels: ours, want: true},
		"written by a previous db, now gone":             {labels: ours, owners: controller("ExternalSecret", "db", "old"), want: true},
		"controlled by another ExternalSecret":           {labels: ours, owners: controller("ExternalSecret", "other", "x")},
		"controlled by something else named db":          {labels: ours, owners: controller("ConfigMap", "db", "old")},
		"a version of another ExternalSecret":            {labels: map[string]string{vfv1alpha1.ManagedLabel: "true", vfv1alpha1.ExternalSecretLabel: "other"}},
		"not the operator's":                             {labels: map[string]string{vfv1alpha1.ExternalSecretLabel: "db"}},
		"already es's own (handled before, not adopted)": {labels: ours, owners: controller("ExternalSecret", "db", "new")},
	} {
		t.Run(name, func(t *testing.T) {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: tc.labels, OwnerReferences: tc.owners}}
			if got := adoptable(es, s); got != tc.want {
				t.Errorf("adoptable = %v, want %v", got, tc.want)
			}
		})
	}
}
