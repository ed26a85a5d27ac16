package externalsecret

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/render"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
)

// fetched is what was read from the provider for one ExternalSecret.
type fetched struct {
	// Data maps Secret keys to values.
	Data map[string][]byte
	// SourceVersions maps remote keys to the version ids read (never values).
	SourceVersions map[string]string
	// ExpiresAt is the earliest expiry a provider reported, if any.
	ExpiresAt *time.Time
}

// desiredSecret computes the Secret version for es from the fetched values.
// It does no I/O; the revision annotation is stamped by apply. ctx bounds the
// template rendering (see render.Limits), the only clock it depends on.
func desiredSecret(ctx context.Context, es *vfv1alpha1.ExternalSecret, in fetched, hashKey []byte) (*corev1.Secret, error) {
	data, secretType, err := secretContent(ctx, es, in.Data)
	if err != nil {
		return nil, err
	}
	hash := contentHash(hashKey, secretType, data)

	name := shortenBase(es.TargetBaseName())
	if es.IsImmutable() {
		name = versionedName(es.TargetBaseName(), hash)
	}
	labels, annotations := map[string]string{}, map[string]string{}
	if t := es.Spec.Target.Template; t != nil {
		maps.Copy(labels, t.Metadata.Labels)
		maps.Copy(annotations, t.Metadata.Annotations)
	}
	labels[vfv1alpha1.ManagedLabel] = "true"
	labels[vfv1alpha1.ExternalSecretLabel] = es.Name
	annotations[vfv1alpha1.ContentHashAnnotation] = hash
	if len(in.SourceVersions) > 0 {
		b, _ := json.Marshal(in.SourceVersions) // map[string]string always marshals
		annotations[vfv1alpha1.SourceVersionsAnnotation] = string(b)
	}

	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       es.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{ownerReference(es)},
		},
		Type: secretType,
		Data: data,
	}
	if es.IsImmutable() {
		s.Immutable = new(true)
	}
	return s, nil
}

// secretContent renders the target template, or passes the fetched data
// through when the template has no data, and checks every key.
func secretContent(ctx context.Context, es *vfv1alpha1.ExternalSecret, values map[string][]byte) (map[string][]byte, corev1.SecretType, error) {
	secretType := corev1.SecretTypeOpaque
	data := values
	if t := es.Spec.Target.Template; t != nil {
		if t.Type != "" {
			secretType = t.Type
		}
		if len(t.Data) > 0 {
			rendered, err := renderTemplates(ctx, t.Data, values)
			if err != nil {
				return nil, "", requeue.New(requeue.Stall, vfv1alpha1.InvalidTemplateReason, err)
			}
			data = rendered
		}
	}
	for key := range data {
		if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
			return nil, "", requeue.New(requeue.Stall, vfv1alpha1.InvalidDataReason,
				fmt.Errorf("secret key %q is not valid: %s", key, errs[0]))
		}
	}
	if len(data) == 0 {
		return nil, "", requeue.New(requeue.Stall, vfv1alpha1.InvalidDataReason,
			fmt.Errorf("the ExternalSecret produced no data: check data, dataFrom and target.template.data"))
	}
	return data, secretType, nil
}

// renderTemplates executes the target templates with the fetched values as
// their data ({{ .password }}).
func renderTemplates(ctx context.Context, templates map[string]string, values map[string][]byte) (map[string][]byte, error) {
	vars := make(map[string]any, len(values))
	for k, v := range values {
		vars[k] = string(v)
	}
	return render.Render(ctx, templates, vars, render.DefaultLimits)
}

func ownerReference(es *vfv1alpha1.ExternalSecret) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         vfv1alpha1.GroupVersion.String(),
		Kind:               "ExternalSecret",
		Name:               es.Name,
		UID:                es.UID,
		Controller:         new(true),
		BlockOwnerDeletion: new(true),
	}
}
