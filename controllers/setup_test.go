package controllers

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

func TestCachedObjectsKeepNoBookkeeping(t *testing.T) {
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: "db", Annotations: map[string]string{corev1.LastAppliedConfigAnnotation: `{"spec":{}}`, vfv1alpha1.ForceSyncAnnotation: "1"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}
	}
	es := &vfv1alpha1.ExternalSecret{ObjectMeta: meta()}
	if _, err := withoutBookkeeping(es); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{vfv1alpha1.ForceSyncAnnotation: "1"}, es.Annotations); diff != "" || es.ManagedFields != nil {
		t.Errorf("cached ExternalSecret annotations (-want +got):\n%s\nmanagedFields: %v", diff, es.ManagedFields)
	}

	secret := &corev1.Secret{ObjectMeta: meta(), Data: map[string][]byte{"password": []byte("p")}, Type: corev1.SecretTypeOpaque}
	if _, err := withoutData(secret); err != nil {
		t.Fatal(err)
	}
	if secret.Data != nil || secret.ManagedFields != nil || len(secret.Annotations) != 1 || secret.Type != corev1.SecretTypeOpaque {
		t.Errorf("cached Secret kept data or bookkeeping: %+v", secret)
	}
}
