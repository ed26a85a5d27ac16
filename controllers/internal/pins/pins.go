// Package pins writes the version pins on workloads' pod templates so that
// they survive GitOps engines. A pin is applied (server-side apply) under
// the operator's field manager, which then co-owns it with whoever else
// wrote it. Flux's apply takes over every kubectl* field manager (a
// `kubectl rollout undo` is one) and removes the fields it took over and
// its manifest does not have; a field another manager also applies stays.
// Argo CD's applies remove only what their last applied manifest had.
package pins

import (
	"context"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// FieldManager names the operator in managedFields.
const FieldManager = "vaultferry"

// On lists the pin annotations of a pod template (nil when none).
func On(template *corev1.PodTemplateSpec) map[string]string {
	var out map[string]string
	for k, v := range template.Annotations {
		if strings.HasPrefix(k, vfv1alpha1.PinAnnotationPrefix) {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// Unowned lists the pins of template that the operator's server-side apply
// entry in managedFields does not own. No I/O.
func Unowned(managedFields []metav1.ManagedFieldsEntry, template *corev1.PodTemplateSpec) ([]string, error) {
	owned := &fieldpath.Set{}
	for _, entry := range managedFields {
		if entry.Manager == FieldManager && entry.Operation == metav1.ManagedFieldsOperationApply && entry.Subresource == "" && entry.FieldsV1 != nil {
			if err := owned.FromJSON(entry.FieldsV1.GetRawReader()); err != nil {
				return nil, fmt.Errorf("reading the operator's managedFields: %w", err)
			}
		}
	}
	var out []string
	for key := range On(template) {
		if !owned.Has(fieldpath.MakePathOrDie("spec", "template", "metadata", "annotations", key)) {
			out = append(out, key)
		}
	}
	return out, nil
}

// OwnedOnly keeps, of managedFields, the operator's server-side apply
// entry: all Unowned needs, for caches that drop the rest.
func OwnedOnly(managedFields []metav1.ManagedFieldsEntry) []metav1.ManagedFieldsEntry {
	var out []metav1.ManagedFieldsEntry
	for _, entry := range managedFields {
		if entry.Manager == FieldManager && entry.Operation == metav1.ManagedFieldsOperationApply && entry.Subresource == "" {
			out = append(out, entry)
		}
	}
	return out
}

// Apply writes pins on the pod template of the workload obj (of kind, in
// group apps) by server-side apply, with every pin the template has now
// (from current) so that none is dropped: the operator then owns all of
// them. With precondition, the apply is refused (a Conflict) if obj
// changed since it was read, so a stale read never moves a pin back.
func Apply(ctx context.Context, c client.Client, kind string, obj client.Object, current, pins map[string]string, precondition bool) error {
	all := maps.Clone(current)
	if all == nil {
		all = map[string]string{}
	}
	maps.Copy(all, pins)
	annotations := map[string]any{}
	for k, v := range all {
		annotations[k] = v
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1",
		"kind":       kind,
		"metadata":   map[string]any{"name": obj.GetName(), "namespace": obj.GetNamespace()},
		"spec":       map[string]any{"template": map[string]any{"metadata": map[string]any{"annotations": annotations}}},
	}}
	if precondition {
		u.SetResourceVersion(obj.GetResourceVersion())
	}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying pins on %s %s: %w", kind, obj.GetName(), err)
	}
	return nil
}
