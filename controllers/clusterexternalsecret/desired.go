package clusterexternalsecret

import (
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// externalSecretName is the name the ExternalSecrets of ces get.
func externalSecretName(ces *vfv1alpha1.ClusterExternalSecret) string {
	if ces.Spec.ExternalSecretName != "" {
		return ces.Spec.ExternalSecretName
	}
	return ces.Name
}

// selectedNamespaces returns, sorted, the namespaces any selector matches;
// a namespace being deleted is not selected (nothing can be created in it).
func selectedNamespaces(selectors []metav1.LabelSelector, namespaces []corev1.Namespace) ([]string, error) {
	compiled := make([]labels.Selector, 0, len(selectors))
	for i := range selectors {
		sel, err := metav1.LabelSelectorAsSelector(&selectors[i])
		if err != nil {
			return nil, fmt.Errorf("namespaceSelectors[%d]: %w", i, err)
		}
		compiled = append(compiled, sel)
	}
	var out []string
	for _, ns := range namespaces {
		if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
			continue
		}
		if slices.ContainsFunc(compiled, func(s labels.Selector) bool { return !s.Empty() && s.Matches(labels.Set(ns.Labels)) }) {
			out = append(out, ns.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// desiredExternalSecret is the ExternalSecret ces wants in namespace. The
// owner reference is set by the caller.
func desiredExternalSecret(ces *vfv1alpha1.ClusterExternalSecret, namespace string) *vfv1alpha1.ExternalSecret {
	es := &vfv1alpha1.ExternalSecret{ObjectMeta: metav1.ObjectMeta{
		Namespace:   namespace,
		Name:        externalSecretName(ces),
		Labels:      map[string]string{},
		Annotations: map[string]string{},
	}}
	if m := ces.Spec.ExternalSecretMetadata; m != nil {
		maps.Copy(es.Labels, m.Labels)
		maps.Copy(es.Annotations, m.Annotations)
	}
	es.Labels[vfv1alpha1.ClusterExternalSecretLabel] = ces.Name
	ces.Spec.ExternalSecretSpec.DeepCopyInto(&es.Spec)
	return es
}

// differs reports whether existing needs an update to become desired: its
// spec, or a label or annotation desired sets. Labels and annotations others
// added are left alone.
func differs(existing, desired *vfv1alpha1.ExternalSecret) bool {
	if !equality.Semantic.DeepEqual(existing.Spec, desired.Spec) {
		return true
	}
	for k, v := range desired.Labels {
		if existing.Labels[k] != v {
			return true
		}
	}
	for k, v := range desired.Annotations {
		if existing.Annotations[k] != v {
			return true
		}
	}
	return false
}
