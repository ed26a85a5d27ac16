package secretstore

import (
	"errors"
	"testing"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
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
