// Package scope decides which namespaces an operator deployment serves when
// tenants are sharded by namespace label (--watch-label-selector).
package scope

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Includes reports whether namespace's labels match selector; a nil or
// empty selector includes every namespace. A namespace that no longer
// exists is not included.
func Includes(ctx context.Context, c client.Reader, selector labels.Selector, namespace string) (bool, error) {
	if selector == nil || selector.Empty() {
		return true, nil
	}
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return selector.Matches(labels.Set(ns.Labels)), nil
}
