package convert

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// The rules below convert what differs between External Secrets Operator
// and vaultferry. Anything they leave that vaultferry has no field for is
// then refused by walk.

// Behaviour changes listed in the summary.
const (
	changeImmutable  = "target.immutable: writes immutable versions named <target>-<hash> instead of one mutable Secret (workloads get each version through rollout or stable references; --mutable keeps one mutable Secret)"
	changeOrphan     = "target.creationPolicy: Orphan became target.deletionPolicy: Retain (the Secrets stay when the ExternalSecret is deleted)"
	changeStoreSecs  = "spec.refreshInterval: an integer of seconds became a duration"
	changeNamespaces = "spec.namespaces / spec.namespaceSelector became spec.namespaceSelectors (ORed)"
	changeFindKeys   = "dataFrom.find: at most find.maxKeys (default 100) keys; more is an error, not a bigger Secret"
	changeOpenKeys   = "ClusterSecretStore: every admitted namespace may read every key the store's credentials reach, as in ESO; vaultferry wants that declared, so spec.access.keys: All was written: restrict the keys with conditions[].allowedKeys (then access.keys: Selected)"
	changeOpenAll    = "ClusterSecretStore without conditions: it serves every namespace, as in ESO; vaultferry wants that declared, so spec.access.namespaces: All was written: restrict it with conditions (then access.namespaces: Selected)"
	changeNoDynamic  = "Vault stores: the converted store reads KV only; vaultferry issues dynamic credentials (spec.dynamic of an ExternalSecret) only from paths and methods a store grants in spec.dynamic, and, for a ClusterSecretStore, a namespace's conditions[].allowedDynamic: none were set"
)

// externalSecret converts an ExternalSecret spec at path (also the
// externalSecretSpec of a ClusterExternalSecret).
func (d *document) externalSecret(spec *yaml.Node, path string) {
	d.target(spec, path)
	if data := get(spec, "data"); data != nil && data.Kind == yaml.SequenceNode {
		for i, item := range data.Content {
			d.remoteRef(get(item, "remoteRef"), fmt.Sprintf("%s.data[%d].remoteRef", path, i))
		}
	}
	if dataFrom := get(spec, "dataFrom"); dataFrom != nil && dataFrom.Kind == yaml.SequenceNode {
		for i, item := range dataFrom.Content {
			p := fmt.Sprintf("%s.dataFrom[%d]", path, i)
			if extract := get(item, "extract"); extract != nil {
				d.remoteRef(extract, p+".extract")
			}
			if find := get(item, "find"); find != nil {
				d.onlyValue(find, "conversionStrategy", "Default", p+".find", "only the Default conversion exists (characters outside [-._a-zA-Z0-9] become _)")
				if get(find, "maxKeys") == nil {
					d.note(changeFindKeys)
				}
			}
		}
	}
}

// target converts spec.target.
func (d *document) target(spec *yaml.Node, path string) {
	target := get(spec, "target")
	if target == nil {
		target = mapping()
		set(spec, "target", target)
	}
	path += ".target"
	switch policy := str(target, "creationPolicy"); policy {
	case "", "Owner":
		del(target, "creationPolicy")
	case "Orphan":
		del(target, "creationPolicy")
		if get(target, "deletionPolicy") == nil {
			set(target, "deletionPolicy", scalar("Retain"))
		}
		d.note(changeOrphan)
	default:
		del(target, "creationPolicy")
		d.refuse(path+".creationPolicy", "%s has no equivalent in vaultferry: it only writes Secrets it owns, never into existing ones", policy)
	}
	if policy := str(target, "deletionPolicy"); policy == "Merge" {
		del(target, "deletionPolicy")
		d.refuse(path+".deletionPolicy", "Merge has no equivalent in vaultferry: use Delete or Retain")
	}
	switch immutable := get(target, "immutable"); {
	case immutable != nil:
	case d.opts.Mutable:
		set(target, "immutable", boolean(false))
	default:
		d.note(changeImmutable)
	}
	if tmpl := get(target, "template"); tmpl != nil {
		if v := str(tmpl, "engineVersion"); v != "" && v != "v2" {
			del(tmpl, "engineVersion")
			d.refuse(path+".template.engineVersion", "%s templates are not supported: rewrite them for the v2 engine (Go templates with sprig functions)", v)
		}
	}
}

// remoteRef converts one remote reference.
func (d *document) remoteRef(ref *yaml.Node, path string) {
	if ref == nil {
		return
	}
	// vaultferry behaves as the default values: they are dropped.
	if d.onlyValue(ref, "conversionStrategy", "Default", path, "keys are not converted") {
		del(ref, "conversionStrategy")
	}
	if d.onlyValue(ref, "metadataPolicy", "None", path, "remote metadata is not fetched") {
		del(ref, "metadataPolicy")
	}
}

// onlyValue refuses (and removes) field when it holds anything but the
// one value vaultferry implements; it reports whether the field may stay.
func (d *document) onlyValue(m *yaml.Node, field, value, path, why string) bool {
	v := get(m, field)
	if v == nil || v.Value == value {
		return true
	}
	del(m, field)
	d.refuse(path+"."+field, "%s has no equivalent in vaultferry: %s", v.Value, why)
	return false
}

// supportedProviders are the providers vaultferry has.
var supportedProviders = []string{"vault", "aws", "azurekv", "fake"}

// store converts a SecretStore or ClusterSecretStore spec; false refuses the document.
func (d *document) store(spec *yaml.Node) bool {
	provider := get(spec, "provider")
	if provider == nil || provider.Kind != yaml.MappingNode || len(provider.Content) != 2 {
		d.refuse("spec.provider", "exactly one provider must be set")
		return false
	}
	name := provider.Content[0].Value
	if !slices.Contains(supportedProviders, name) {
		d.refuse("spec.provider."+name, "provider %s is not supported: vaultferry supports vault, aws, azurekv and fake", name)
		return false
	}
	if why := operatorIdentity(name, provider.Content[1]); why != "" && str(d.obj, "kind") == "SecretStore" {
		d.refuse("spec.provider."+name, "a SecretStore cannot use the operator's own identity (%s): give it its own credentials or ServiceAccount, "+
			"or make it a ClusterSecretStore and run the operator with --allow-operator-identity-for-cluster-stores", why)
		return false
	}
	if name == "aws" {
		if service := str(provider.Content[1], "service"); service != "" && service != "SecretsManager" {
			d.refuse("spec.provider.aws.service", "%s is not supported: vaultferry reads AWS Secrets Manager only", service)
			return false
		}
	}
	if ri := get(spec, "refreshInterval"); ri != nil {
		if secs, ok := seconds(ri.Value); ok {
			if secs == "0s" {
				del(spec, "refreshInterval")
			} else {
				ri.Value, ri.Tag, ri.Style = secs, "!!str", 0 // in place: its comment stays
				d.note(changeStoreSecs)
			}
		}
	}
	if str(d.obj, "kind") == "ClusterSecretStore" {
		d.declareAccess(spec)
	}
	if at(spec, "provider", "vault") != nil {
		d.note(changeNoDynamic)
	}
	return true
}

// declareAccess writes the spec.access vaultferry requires of a
// ClusterSecretStore: as open as ESO's store was (ESO has no allowedKeys,
// so every key), said in the summary.
func (d *document) declareAccess(spec *yaml.Node) {
	namespaces := "Selected"
	conditions := get(spec, "conditions")
	if conditions == nil || conditions.Kind != yaml.SequenceNode || len(conditions.Content) == 0 {
		namespaces = "All"
	} else {
		for _, c := range conditions.Content {
			if sel := get(c, "namespaceSelector"); sel != nil && get(sel, "matchLabels") == nil && get(sel, "matchExpressions") == nil {
				namespaces = "All"
			}
		}
	}
	if namespaces == "All" {
		d.note(changeOpenAll)
	}
	d.note(changeOpenKeys)
	access := mapping(scalar("namespaces"), scalar(namespaces), scalar("keys"), scalar("All"))
	access.Style = yaml.FlowStyle
	set(spec, "access", access)
}

// operatorIdentity says how a provider block would authenticate as the
// operator itself (External Secrets Operator's controller identity), or "".
func operatorIdentity(provider string, block *yaml.Node) string {
	switch provider {
	case "aws":
		if get(block, "auth") == nil {
			return "no auth: the default AWS credential chain"
		}
	case "azurekv":
		if str(block, "authType") == "ManagedIdentity" {
			return "authType ManagedIdentity"
		}
	case "vault":
		if k8s := at(block, "auth", "kubernetes"); k8s != nil && get(k8s, "serviceAccountRef") == nil && get(k8s, "secretRef") == nil {
			return "Kubernetes auth without serviceAccountRef: the operator's ServiceAccount"
		}
	}
	return ""
}

// clusterExternalSecret converts a ClusterExternalSecret spec.
func (d *document) clusterExternalSecret(spec *yaml.Node) {
	if es := get(spec, "externalSecretSpec"); es != nil {
		d.externalSecret(es, "spec.externalSecretSpec")
	}
	selectors := get(spec, "namespaceSelectors")
	if selectors == nil {
		selectors = sequence()
	}
	changed := false
	if one := get(spec, "namespaceSelector"); one != nil {
		selectors.Content = append(selectors.Content, one)
		del(spec, "namespaceSelector")
		changed = true
	}
	if names := get(spec, "namespaces"); names != nil && names.Kind == yaml.SequenceNode && len(names.Content) > 0 {
		byName := mapping(scalar("matchExpressions"), sequence(mapping(
			scalar("key"), scalar("kubernetes.io/metadata.name"), scalar("operator"), scalar("In"), scalar("values"), names)))
		selectors.Content = append(selectors.Content, byName)
		del(spec, "namespaces")
		changed = true
	}
	if changed {
		set(spec, "namespaceSelectors", selectors)
		d.note(changeNamespaces)
	}
}
