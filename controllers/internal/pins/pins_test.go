package pins

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestUnowned(t *testing.T) {
	template := &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
		"vaultferry.io/version.db": "db-1", "vaultferry.io/version.api": "api-1", "team": "a",
	}}}
	entry := func(manager string, op metav1.ManagedFieldsOperationType, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)}
	}
	const dbPin = `{"f:spec":{"f:template":{"f:metadata":{"f:annotations":{"f:vaultferry.io/version.db":{}}}}}}`
	for name, tc := range map[string]struct {
		fields []metav1.ManagedFieldsEntry
		want   []string
	}{
		"no managedFields":                       {nil, []string{"vaultferry.io/version.api", "vaultferry.io/version.db"}},
		"applied by the operator":                {[]metav1.ManagedFieldsEntry{entry(FieldManager, metav1.ManagedFieldsOperationApply, dbPin)}, []string{"vaultferry.io/version.api"}},
		"written by the operator's JSON patch":   {[]metav1.ManagedFieldsEntry{entry(FieldManager, metav1.ManagedFieldsOperationUpdate, dbPin)}, []string{"vaultferry.io/version.api", "vaultferry.io/version.db"}},
		"written by kubectl rollout undo":        {[]metav1.ManagedFieldsEntry{entry("kubectl", metav1.ManagedFieldsOperationUpdate, dbPin)}, []string{"vaultferry.io/version.api", "vaultferry.io/version.db"}},
		"applied by another manager of the name": {[]metav1.ManagedFieldsEntry{entry("vaultferry-fork", metav1.ManagedFieldsOperationApply, dbPin)}, []string{"vaultferry.io/version.api", "vaultferry.io/version.db"}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Unowned(tc.fields, template)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Unowned = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := Unowned([]metav1.ManagedFieldsEntry{entry(FieldManager, metav1.ManagedFieldsOperationApply, `{"f:spec":`)}, template); err == nil {
		t.Error("unreadable managedFields: no error")
	}
}
