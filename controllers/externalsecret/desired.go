package externalsecret

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
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
func desiredSecret(ctx context.Context, es *vfv1alpha1.ExternalSecret, in fetched, sources templateSources, prior priorVersions, hashKey []byte) (*corev1.Secret, error) {
	content, secretType, err := secretContent(ctx, es, in.Data, sources, prior)
	if err != nil {
		return nil, err
	}
	data := content.data
	hash := contentHash(hashKey, versionOwner{es.Namespace, es.Name}, secretType, data)

	name := shortenBase(es.TargetBaseName())
	if es.IsImmutable() {
		name = versionedName(es.TargetBaseName(), hash)
	}
	labels, annotations := content.labels, content.annotations
	if t := es.Spec.Target.Template; t != nil && !hasTemplates(t) {
		maps.Copy(labels, t.Metadata.Labels) // rendered with the rest otherwise
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
			// Set at creation, so protecting a version costs no write.
			Finalizers: []string{vfv1alpha1.ProtectionFinalizer},
		},
		Type: secretType,
		Data: data,
	}
	if es.IsImmutable() {
		s.Immutable = new(true)
	}
	return s, nil
}

// secretContent renders the target templates, or passes the fetched data
// through when there are none, and checks every key.
func secretContent(ctx context.Context, es *vfv1alpha1.ExternalSecret, values map[string][]byte, sources templateSources, prior priorVersions) (rendered, corev1.SecretType, error) {
	secretType := corev1.SecretTypeOpaque
	content := rendered{data: values, labels: map[string]string{}, annotations: map[string]string{}}
	if t := es.Spec.Target.Template; t != nil {
		if err := checkTemplateSafety(t); err != nil {
			return rendered{}, "", requeue.New(requeue.Stall, vfv1alpha1.InvalidSpecReason, err)
		}
		if t.Type != "" {
			secretType = t.Type
		}
		if hasTemplates(t) {
			var err error
			if content, err = renderContent(ctx, es, values, sources, prior); err != nil {
				return rendered{}, "", err
			}
		}
	}
	data := content.data
	for key := range data {
		if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
			return rendered{}, "", requeue.New(requeue.Stall, vfv1alpha1.InvalidDataReason,
				fmt.Errorf("secret key %q is not valid: %s", key, errs[0]))
		}
	}
	if len(data) == 0 {
		return rendered{}, "", requeue.New(requeue.Stall, vfv1alpha1.InvalidDataReason,
			fmt.Errorf("the ExternalSecret produced no data: check data, dataFrom and target.template.data"))
	}
	return content, secretType, nil
}

// allowedSecretTypes are the built-in Secret types a template may set;
// custom types need a domain prefix outside kubernetes.io and k8s.io.
var (
	allowedSecretTypes = sets.New[corev1.SecretType](corev1.SecretTypeOpaque, corev1.SecretTypeTLS, corev1.SecretTypeDockerConfigJson,
		corev1.SecretTypeDockercfg, corev1.SecretTypeBasicAuth, corev1.SecretTypeSSHAuth)
	customSecretType   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+/[-._a-zA-Z0-9]+$`)
	reservedTypePrefix = regexp.MustCompile(`^([^/]*\.)?(kubernetes\.io|k8s\.io)/`)
	operatorKey        = regexp.MustCompile(`^([^/]*\.)?vaultferry\.io/`)
)

// checkTemplateSafety repeats the schema's rules on template type and
// metadata, for ExternalSecrets stored before those rules existed: a
// service-account-token Secret would be filled by the API server with a
// token of any ServiceAccount the tenant names.
func checkTemplateSafety(t *vfv1alpha1.SecretTemplate) error {
	if t.Type != "" && !allowedSecretTypes.Has(t.Type) && (!customSecretType.MatchString(string(t.Type)) || reservedTypePrefix.MatchString(string(t.Type))) {
		return fmt.Errorf("target.template.type %q is not allowed: use Opaque, a kubernetes.io type for TLS, docker config, basic or SSH auth, or a custom type with a domain prefix", t.Type)
	}
	for k := range t.Metadata.Labels {
		if forbiddenLabel(k) {
			return fmt.Errorf("template label %q is not allowed: vaultferry.io/ keys belong to the operator", k)
		}
	}
	for k := range t.Metadata.Annotations {
		if forbiddenAnnotation(k) {
			return fmt.Errorf("template annotation %q is not allowed: vaultferry.io/ keys belong to the operator, kubernetes.io/service-account.* would make a token of the Secret", k)
		}
	}
	return nil
}

// forbiddenLabel and forbiddenAnnotation are the metadata keys no template
// may set, written in the spec or rendered: vaultferry.io/ keys belong to
// the operator, and kubernetes.io/service-account.* annotations would make
// the API server treat the Secret as a token.
func forbiddenLabel(k string) bool { return operatorKey.MatchString(k) }

func forbiddenAnnotation(k string) bool {
	return operatorKey.MatchString(k) || strings.HasPrefix(k, "kubernetes.io/service-account.")
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
