package externalsecret

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/render"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
)

// previousKey is the name templates read the previous version's data by.
const previousKey = "previous"

// templateSources are the templateFrom ConfigMaps and Secrets as read for
// one sync: their data by sourceKey, and the resourceVersions to record.
type templateSources struct {
	data     map[string]map[string]string
	versions map[string]string
}

func sourceKey(kind, name string) string { return kind + "/" + name }

// sourceRefs lists es's templateFrom objects as (kind, ref).
func sourceRefs(es *vfv1alpha1.ExternalSecret) map[string]*vfv1alpha1.TemplateSourceRef {
	refs := map[string]*vfv1alpha1.TemplateSourceRef{}
	if t := es.Spec.Target.Template; t != nil {
		for _, from := range t.TemplateFrom {
			if from.ConfigMap != nil {
				refs[sourceKey("ConfigMap", from.ConfigMap.Name)] = from.ConfigMap
			}
			if from.Secret != nil {
				refs[sourceKey("Secret", from.Secret.Name)] = from.Secret
			}
		}
	}
	return refs
}

// readTemplateSources reads es's templateFrom objects from its own namespace
// (uncached: the operator caches only its own Secrets). A missing object or
// key is waited for; a ServiceAccount token Secret is refused.
func (r *Reconciler) readTemplateSources(ctx context.Context, es *vfv1alpha1.ExternalSecret) (templateSources, error) {
	out := templateSources{data: map[string]map[string]string{}, versions: map[string]string{}}
	for key, ref := range sourceRefs(es) {
		kind, name, _ := strings.Cut(key, "/")
		data, version, err := r.readSource(ctx, es.Namespace, kind, name)
		if err != nil {
			return out, err
		}
		for _, item := range ref.Items {
			if _, ok := data[item.Key]; !ok {
				return out, requeue.New(requeue.Wait, vfv1alpha1.TemplateSourceNotFoundReason,
					fmt.Errorf("templateFrom %s %s has no key %q", kind, name, item.Key))
			}
		}
		out.data[key], out.versions[key] = data, version
	}
	return out, nil
}

func (r *Reconciler) readSource(ctx context.Context, namespace, kind, name string) (map[string]string, string, error) {
	objKey := client.ObjectKey{Namespace: namespace, Name: name}
	var (
		data    = map[string]string{}
		version string
		err     error
	)
	if kind == "ConfigMap" {
		cm := &corev1.ConfigMap{}
		if err = r.APIReader.Get(ctx, objKey, cm); err == nil {
			maps.Copy(data, cm.Data)
			for k, v := range cm.BinaryData {
				data[k] = string(v)
			}
			version = cm.ResourceVersion
		}
	} else {
		s := &corev1.Secret{}
		if err = r.APIReader.Get(ctx, objKey, s); err == nil {
			if s.Type == corev1.SecretTypeServiceAccountToken || s.Type == corev1.SecretTypeBootstrapToken {
				return nil, "", requeue.New(requeue.Stall, vfv1alpha1.InvalidSpecReason,
					fmt.Errorf("templateFrom Secret %s is a %s Secret: templates cannot be read from tokens", name, s.Type))
			}
			for k, v := range s.Data {
				data[k] = string(v)
			}
			version = s.ResourceVersion
		}
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, "", requeue.New(requeue.Wait, vfv1alpha1.TemplateSourceNotFoundReason,
			fmt.Errorf("templateFrom %s %s does not exist in namespace %s", kind, name, namespace))
	case err != nil:
		return nil, "", fmt.Errorf("reading templateFrom %s %s: %w", kind, name, err)
	}
	return data, version, nil
}

// priorVersions are the data of the versions a template's .previous can
// be: the current version and the one before it.
type priorVersions struct {
	current, beforeCurrent *corev1.Secret
}

// priorVersions reads, from the API server (the cache keeps no data), the
// versions a template's .previous can be, when a template mentions it.
func (r *Reconciler) priorVersions(ctx context.Context, es *vfv1alpha1.ExternalSecret, owned []corev1.Secret, sources templateSources) (priorVersions, error) {
	if !mentionsPrevious(es, sources) {
		return priorVersions{}, nil
	}
	p := priorVersionsOf(es, owned)
	for _, version := range []**corev1.Secret{&p.current, &p.beforeCurrent} {
		if *version == nil {
			continue
		}
		full := &corev1.Secret{}
		err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(*version), full)
		switch {
		case apierrors.IsNotFound(err):
			*version = nil
		case err != nil:
			return priorVersions{}, fmt.Errorf("reading version %s: %w", (*version).Name, err)
		default:
			*version = full
		}
	}
	return p, nil
}

// mentionsPrevious reports whether any of es's templates names previous.
func mentionsPrevious(es *vfv1alpha1.ExternalSecret, sources templateSources) bool {
	t := es.Spec.Target.Template
	if t == nil {
		return false
	}
	for _, m := range []map[string]string{t.Data, t.Metadata.Labels, t.Metadata.Annotations} {
		for _, text := range m {
			if strings.Contains(text, previousKey) {
				return true
			}
		}
	}
	for _, from := range t.TemplateFrom {
		if from.Literal != nil && strings.Contains(*from.Literal, previousKey) {
			return true
		}
	}
	for _, data := range sources.data {
		for _, text := range data {
			if strings.Contains(text, previousKey) {
				return true
			}
		}
	}
	return false
}

// priorVersionsOf finds es's current version and the newest one older than
// it among owned. Mutable targets have no history: .previous stays empty.
func priorVersionsOf(es *vfv1alpha1.ExternalSecret, owned []corev1.Secret) priorVersions {
	current := findSecret(owned, es.Status.CurrentSecretName)
	if current == nil || !es.IsImmutable() {
		return priorVersions{}
	}
	p := priorVersions{current: current}
	for i := range owned {
		s := &owned[i]
		if revisionOf(s) < revisionOf(current) && (p.beforeCurrent == nil || revisionOf(s) > revisionOf(p.beforeCurrent)) {
			p.beforeCurrent = s
		}
	}
	return p
}

// hasTemplates reports whether t renders anything: data, templateFrom, or
// metadata values with actions.
func hasTemplates(t *vfv1alpha1.SecretTemplate) bool {
	if len(t.Data) > 0 || len(t.TemplateFrom) > 0 {
		return true
	}
	for _, m := range []map[string]string{t.Metadata.Labels, t.Metadata.Annotations} {
		for _, v := range m {
			if strings.Contains(v, "{{") {
				return true
			}
		}
	}
	return false
}

// rendered is a Secret's templated content.
type rendered struct {
	data                map[string][]byte
	labels, annotations map[string]string
}

// renderContent renders es's templates. .previous is the data of the version
// before the one being written, so the same input must keep rendering the
// current version: it is first rendered with the version before the current
// one as .previous, and if that is not the current content (the values or
// the templates changed), rendered again with the current version as
// .previous, for a new version. No I/O.
func renderContent(ctx context.Context, es *vfv1alpha1.ExternalSecret, values map[string][]byte, sources templateSources, prior priorVersions) (rendered, error) {
	t := es.Spec.Target.Template
	first, err := renderWith(ctx, t, values, sources, dataOf(prior.beforeCurrent))
	if err != nil || prior.current == nil || sameData(first.data, prior.current.Data) {
		return first, err
	}
	return renderWith(ctx, t, values, sources, dataOf(prior.current))
}

func dataOf(s *corev1.Secret) map[string][]byte {
	if s == nil {
		return nil
	}
	return s.Data
}

func sameData(a, b map[string][]byte) bool { return maps.EqualFunc(a, b, bytes.Equal) }

// renderWith renders every template of t in one budget: templateFrom entries
// in order, then the inline data, which wins. Keys and values rendered from
// a KeysAndValues item or a literal are data too, so their errors do not
// quote them.
func renderWith(ctx context.Context, t *vfv1alpha1.SecretTemplate, values map[string][]byte, sources templateSources, previous map[string][]byte) (rendered, error) {
	vars := make(map[string]any, len(values)+1)
	prev := make(map[string]any, len(previous))
	for k, v := range previous {
		prev[k] = string(v)
	}
	vars[previousKey] = prev // a fetched key of that name wins
	for k, v := range values {
		vars[k] = string(v)
	}

	type part struct {
		target    vfv1alpha1.TemplateTarget
		key       string // the item's key (Values) or "" (KeysAndValues)
		valuesKey bool
	}
	templates := map[string]string{}
	parts := map[string]part{}
	order := []string{}
	add := func(name, text string, p part) {
		templates[name], parts[name] = text, p
		order = append(order, name)
	}
	for i, from := range t.TemplateFrom {
		target := from.Target
		if target == "" {
			target = vfv1alpha1.TemplateTargetData
		}
		if from.Literal != nil {
			add(fmt.Sprintf("templateFrom[%d].literal", i), *from.Literal, part{target: target})
			continue
		}
		kind, ref := "ConfigMap", from.ConfigMap
		if ref == nil {
			kind, ref = "Secret", from.Secret
		}
		for _, item := range ref.Items {
			name := fmt.Sprintf("templateFrom[%d] %s %s key %s", i, kind, ref.Name, item.Key)
			add(name, sources.data[sourceKey(kind, ref.Name)][item.Key],
				part{target: target, key: item.Key, valuesKey: item.TemplateAs != vfv1alpha1.TemplateScopeKeysAndValues})
		}
	}
	for _, key := range slices.Sorted(maps.Keys(t.Data)) {
		add(key, t.Data[key], part{target: vfv1alpha1.TemplateTargetData, key: key, valuesKey: true})
	}
	// template.metadata values are templates too, as in ESO's v2 engine;
	// they win over templateFrom's labels and annotations.
	for _, key := range slices.Sorted(maps.Keys(t.Metadata.Labels)) {
		add("metadata.labels."+key, t.Metadata.Labels[key], part{target: vfv1alpha1.TemplateTargetLabels, key: key, valuesKey: true})
	}
	for _, key := range slices.Sorted(maps.Keys(t.Metadata.Annotations)) {
		add("metadata.annotations."+key, t.Metadata.Annotations[key], part{target: vfv1alpha1.TemplateTargetAnnotations, key: key, valuesKey: true})
	}

	out, err := render.Render(ctx, templates, vars, render.DefaultLimits)
	if err != nil {
		return rendered{}, requeue.New(requeue.Stall, vfv1alpha1.InvalidTemplateReason, err)
	}
	result := rendered{data: map[string][]byte{}, labels: map[string]string{}, annotations: map[string]string{}}
	hasData := false
	for _, name := range order {
		p := parts[name]
		entries := map[string]string{p.key: string(out[name])}
		if !p.valuesKey {
			if entries, err = keysAndValues(out[name]); err != nil {
				return rendered{}, requeue.New(requeue.Stall, vfv1alpha1.InvalidTemplateReason, fmt.Errorf("%s: %w", name, err))
			}
		}
		switch p.target {
		case vfv1alpha1.TemplateTargetData:
			hasData = true
			for k, v := range entries {
				if !p.valuesKey && len(validation.IsConfigMapKey(k)) > 0 {
					return rendered{}, requeue.New(requeue.Stall, vfv1alpha1.InvalidTemplateReason,
						fmt.Errorf("%s: a rendered key is not a valid Secret key (alphanumerics, '-', '_' or '.'; keys are not shown: they can come from secret values)", name))
				}
				result.data[k] = []byte(v)
			}
		case vfv1alpha1.TemplateTargetLabels:
			maps.Copy(result.labels, entries)
		case vfv1alpha1.TemplateTargetAnnotations:
			maps.Copy(result.annotations, entries)
		}
	}
	if err := checkRenderedMetadata(result.labels, result.annotations); err != nil {
		return rendered{}, requeue.New(requeue.Stall, vfv1alpha1.InvalidTemplateReason, err)
	}
	switch {
	case !hasData:
		result.data = values // only metadata is templated
	case t.MergePolicy == vfv1alpha1.MergeMerge:
		merged := maps.Clone(values)
		maps.Copy(merged, result.data)
		result.data = merged
	}
	return result, nil
}

// keysAndValues reads the output of a KeysAndValues or literal template: a
// YAML mapping whose scalar values are written as they read (true, 5) and
// nested values as JSON.
func keysAndValues(out []byte) (map[string]string, error) {
	var m map[string]any
	if err := yaml.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("the output is not a YAML mapping (KeysAndValues and literal templates render one)")
	}
	entries := make(map[string]string, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case string:
			entries[k] = v
		case map[string]any, []any:
			b, _ := json.Marshal(v) // decoded from YAML: always encodes
			entries[k] = string(b)
		case nil:
			entries[k] = ""
		default:
			entries[k] = fmt.Sprint(v)
		}
	}
	return entries, nil
}

// checkRenderedMetadata applies the rules of template.metadata to labels and
// annotations rendered by templateFrom. Keys may come from values, so the
// errors count them rather than quote them.
func checkRenderedMetadata(labels, annotations map[string]string) error {
	for k, v := range labels {
		if forbiddenLabel(k) {
			return fmt.Errorf("a templateFrom label sets a vaultferry.io/ key, which belongs to the operator")
		}
		if len(validation.IsQualifiedName(k)) > 0 || len(validation.IsValidLabelValue(v)) > 0 {
			return fmt.Errorf("a templateFrom label is not a valid Kubernetes label (keys and values are not shown: they can come from secret values)")
		}
	}
	for k := range annotations {
		if forbiddenAnnotation(k) {
			return fmt.Errorf("a templateFrom annotation sets a vaultferry.io/ key or a kubernetes.io/service-account.* key, which templates cannot set")
		}
		if len(validation.IsQualifiedName(strings.ToLower(k))) > 0 {
			return fmt.Errorf("a templateFrom annotation key is not valid (keys are not shown: they can come from secret values)")
		}
	}
	return nil
}
