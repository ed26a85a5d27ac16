package externalsecret

import (
	"maps"
	"slices"
	"testing"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
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
