package secretstore

import (
	"errors"
	"strings"
	"testing"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
	"k8s.io/client-go/tools/events"
)

func TestProgressCondition(t *testing.T) {
	cases := []struct {
		kind       requeue.Kind
		wantType   string
		wantReason string
	}{
		{requeue.Stall, vfv1alpha1.StalledCondition, vfv1alpha1.InvalidProviderConfigReason},
		{requeue.Retry, vfv1alpha1.ReconcilingCondition, vfv1alpha1.ProgressingWithRetryReason},
		{requeue.Wait, vfv1alpha1.ReconcilingCondition, vfv1alpha1.ProgressingWithRetryReason},
	}
	for _, tc := range cases {
		got := progressCondition(requeue.New(tc.kind, vfv1alpha1.InvalidProviderConfigReason, errors.New("boom")), 3)
		if got.Type != tc.wantType || got.Reason != tc.wantReason || got.Status != "True" || got.ObservedGeneration != 3 || got.Message == "" {
			t.Errorf("kind %v: got %+v, want %s/%s", tc.kind, got, tc.wantType, tc.wantReason)
		}
	}
}

// A ClusterSecretStore made before spec.access existed shows how open it
// is and warns once, saying what to declare; a declared one does not warn.
func TestRecordAccess(t *testing.T) {
	for name, tc := range map[string]struct {
		access      *vfv1alpha1.StoreAccess
		conditions  []vfv1alpha1.ClusterSecretStoreCondition
		wantStatus  string
		wantWarning string
	}{
		"undeclared, no conditions": {
			wantStatus:  "undeclared: all namespaces, all keys",
			wantWarning: "Warning AccessUndeclared spec.access is not set: this store serves all namespaces, all keys. Declare it (access: {namespaces: All, keys: All} keeps this)",
		},
		"undeclared, selected namespaces": {
			conditions:  []vfv1alpha1.ClusterSecretStoreCondition{{Namespaces: []string{"a"}}},
			wantStatus:  "undeclared: selected namespaces, all keys",
			wantWarning: "access: {namespaces: Selected, keys: All} keeps this",
		},
		"declared": {
			access:     &vfv1alpha1.StoreAccess{Namespaces: vfv1alpha1.AccessSelected, Keys: vfv1alpha1.AccessSelected},
			conditions: []vfv1alpha1.ClusterSecretStoreCondition{{Namespaces: []string{"a"}, AllowedKeys: []string{"a/*"}}},
			wantStatus: "selected namespaces, selected keys",
		},
	} {
		t.Run(name, func(t *testing.T) {
			recorder := events.NewFakeRecorder(4)
			r := &Reconciler{Events: recorder}
			store := &vfv1alpha1.ClusterSecretStore{Spec: vfv1alpha1.SecretStoreSpec{Access: tc.access, Conditions: tc.conditions}}
			for range 2 { // the second reconcile finds the status written: no second warning
				before := store.DeepCopy()
				r.recordAccess(store, before)
			}
			if store.Status.Access != tc.wantStatus {
				t.Errorf("status.access = %q, want %q", store.Status.Access, tc.wantStatus)
			}
			var got []string
			for len(recorder.Events) > 0 {
				got = append(got, <-recorder.Events)
			}
			switch {
			case tc.wantWarning == "" && len(got) > 0:
				t.Errorf("events %q, want none", got)
			case tc.wantWarning != "" && (len(got) != 1 || !strings.Contains(got[0], tc.wantWarning)):
				t.Errorf("events %q, want one saying %q", got, tc.wantWarning)
			}
		})
	}
}
