package workloadpins

import (
	"maps"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vaultferry/vaultferry/controllers/internal/pins"
)

// The cache keeps of a workload only what the pin controller reads.
func TestCacheTransformKeepsOnlyPins(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u", ResourceVersion: "7",
		Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"big": "x"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate}, {Manager: pins.FieldManager, Operation: metav1.ManagedFieldsOperationApply}},
	}}
	d.Spec.Template.Annotations = map[string]string{"vaultferry.io/version.db": "db-1", "checksum": "c"}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Image: "web:1"}}
	got, err := Kinds[0].CacheTransform(d)
	if err != nil {
		t.Fatal(err)
	}
	s := got.(*appsv1.Deployment)
	if s.Name != "web" || s.Namespace != "ns" || s.UID != "u" || s.ResourceVersion != "7" {
		t.Errorf("identity lost: %+v", s.ObjectMeta)
	}
	if s.Labels != nil || s.Annotations != nil || len(s.Spec.Template.Spec.Containers) != 0 {
		t.Errorf("kept more than the pins: %+v", s)
	}
	if !maps.Equal(s.Spec.Template.Annotations, map[string]string{"vaultferry.io/version.db": "db-1"}) {
		t.Errorf("pins %v", s.Spec.Template.Annotations)
	}
	if len(s.ManagedFields) != 1 || s.ManagedFields[0].Manager != pins.FieldManager {
		t.Errorf("managedFields %v, want the operator's apply only", s.ManagedFields)
	}
	for _, k := range Kinds {
		if _, err := k.CacheTransform(k.New()); err != nil {
			t.Errorf("%s: %v", k.Name, err)
		}
	}
}
