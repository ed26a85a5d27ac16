package providers

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// OperatorIdentity names the operator's own, ambient identity that a provider
// block would authenticate with, or returns "" when the block names its
// credentials. A namespaced SecretStore must never use it: the operator's
// ServiceAccount may read every Secret in the cluster, and its cloud
// identity is the platform's, not the tenant's. A ClusterSecretStore may,
// when the operator allows it (ClientCache.AllowOperatorIdentity).
func OperatorIdentity(p vfv1alpha1.SecretStoreProvider) string {
	switch {
	case p.Vault != nil && p.Vault.Auth.Kubernetes != nil && p.Vault.Auth.Kubernetes.ServiceAccountRef == nil:
		return "Vault Kubernetes auth without serviceAccountRef sends the operator's own ServiceAccount token"
	case p.AWS != nil && p.AWS.Auth == nil:
		return "AWS without auth uses the operator pod's default credential chain"
	case p.AzureKV != nil && p.AzureKV.AuthType == vfv1alpha1.AzureManagedIdentity:
		return "Azure ManagedIdentity uses the managed identity of the operator's node or pod"
	default:
		return ""
	}
}

// Endpoints lists the URLs a provider block makes the operator connect to,
// beyond the providers' fixed public endpoints.
func Endpoints(p vfv1alpha1.SecretStoreProvider) []string {
	switch {
	case p.Vault != nil:
		return []string{p.Vault.Server}
	case p.AWS != nil && p.AWS.Endpoint != "":
		return []string{p.AWS.Endpoint}
	case p.AzureKV != nil:
		return []string{p.AzureKV.VaultURL}
	default:
		return nil
	}
}

// EndpointPolicy is the set of endpoints namespaced SecretStores may use
// (--allowed-store-endpoints). Without it a tenant could make the operator
// connect to any address it can reach. The zero value allows every endpoint.
type EndpointPolicy struct {
	patterns []endpointPattern
}

type endpointPattern struct {
	scheme string
	host   *regexp.Regexp
	port   string
}

// ParseEndpointPolicy parses URL patterns such as "https://vault.example.com:8200"
// or "https://*.vault.azure.net": the scheme and port must match exactly (the
// scheme's default port when none is written), and in the host "*" stands for
// one DNS label. Paths are not allowed in patterns. No patterns allow all.
func ParseEndpointPolicy(patterns []string) (EndpointPolicy, error) {
	var p EndpointPolicy
	for _, raw := range patterns {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return EndpointPolicy{}, fmt.Errorf("endpoint pattern %q: want scheme://host[:port], for example https://*.vault.example.com", raw)
		}
		scheme, host, port := splitURL(u)
		labels := strings.Split(host, ".")
		for i, l := range labels {
			if l == "*" {
				labels[i] = `[a-z0-9-]+`
			} else {
				labels[i] = regexp.QuoteMeta(l)
			}
		}
		p.patterns = append(p.patterns, endpointPattern{scheme: scheme, host: regexp.MustCompile(`^` + strings.Join(labels, `\.`) + `$`), port: port})
	}
	return p, nil
}

// Allows reports whether endpoint matches one of the patterns.
func (p EndpointPolicy) Allows(endpoint string) bool {
	if len(p.patterns) == 0 {
		return true
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	scheme, host, port := splitURL(u)
	for _, pat := range p.patterns {
		if pat.scheme == scheme && pat.port == port && pat.host.MatchString(host) {
			return true
		}
	}
	return false
}

// splitURL returns the lower-cased scheme and host and the port, defaulted
// from the scheme, of u.
func splitURL(u *url.URL) (scheme, host, port string) {
	scheme = strings.ToLower(u.Scheme)
	host, port = strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[scheme]
	}
	return scheme, strings.TrimSuffix(host, "."), port
}

// checkStoreIdentity refuses, before any network call, a store that would
// authenticate as the operator itself or connect to an endpoint outside the
// policy. Both are fixed by editing the store (or by the operator's flags,
// for a ClusterSecretStore), so the errors are ErrInvalid.
func (c *ClientCache) checkStoreIdentity(store vfv1alpha1.GenericStore) error {
	spec := store.GetSpec().Provider
	clusterStore := store.GetKind() == vfv1alpha1.ClusterSecretStoreKind
	if id := OperatorIdentity(spec); id != "" {
		switch {
		case !clusterStore:
			return Errorf(ErrInvalid, "a SecretStore may not authenticate as the operator (%s): name credentials or a ServiceAccount of namespace %q in the store", id, store.GetNamespace())
		case !c.operatorIdentity:
			return Errorf(ErrInvalid, "ClusterSecretStore authenticates as the operator (%s), which this operator refuses: name credentials or a ServiceAccount in the store, or start the operator with --allow-operator-identity-for-cluster-stores", id)
		}
	}
	if clusterStore {
		return nil
	}
	for _, e := range Endpoints(spec) {
		if !c.endpoints.Allows(e) {
			host := e
			if u, err := url.Parse(e); err == nil {
				host = u.Host
			}
			return Errorf(ErrInvalid, "endpoint %s is not allowed for SecretStores by this operator (--allowed-store-endpoints): use an allowed endpoint or a ClusterSecretStore of the platform team", host)
		}
	}
	return nil
}

// CredentialObject is a Secret or ConfigMap a store reads its credentials from.
type CredentialObject struct {
	// ConfigMap is true for a ConfigMap, false for a Secret.
	ConfigMap bool
	// Key is its namespace and name.
	Key client.ObjectKey
}

// CredentialObjects lists the Secrets and ConfigMaps a store's provider block
// names, resolved as the providers resolve them: in the store's own
// namespace for a SecretStore, in the named namespace for a ClusterSecretStore.
// The operator watches them by name so that a store reacts to a credential
// created, rotated or deleted, without caching every Secret.
func CredentialObjects(store vfv1alpha1.GenericStore) []CredentialObject {
	var out []CredentialObject
	add := func(configMap bool, namespace, name string) {
		if store.GetNamespace() != "" {
			namespace = store.GetNamespace()
		}
		if name != "" && namespace != "" {
			out = append(out, CredentialObject{ConfigMap: configMap, Key: client.ObjectKey{Namespace: namespace, Name: name}})
		}
	}
	secret := func(ref *vfv1alpha1.SecretKeySelector) {
		if ref != nil {
			add(false, ref.Namespace, ref.Name)
		}
	}
	p := store.GetSpec().Provider
	switch {
	case p.Vault != nil:
		secret(p.Vault.Auth.TokenSecretRef)
		if a := p.Vault.Auth.AppRole; a != nil {
			secret(a.RoleRef)
			secret(&a.SecretRef)
		}
		if ca := p.Vault.CAProvider; ca != nil {
			add(ca.Type == "ConfigMap", ca.Namespace, ca.Name)
		}
		if tls := p.Vault.ClientTLSSecretRef; tls != nil {
			add(false, tls.Namespace, tls.Name)
		}
	case p.AWS != nil && p.AWS.Auth != nil && p.AWS.Auth.SecretRef != nil:
		secret(&p.AWS.Auth.SecretRef.AccessKeyIDSecretRef)
		secret(&p.AWS.Auth.SecretRef.SecretAccessKeySecretRef)
		secret(p.AWS.Auth.SecretRef.SessionTokenSecretRef)
	case p.AzureKV != nil && p.AzureKV.AuthSecretRef != nil:
		secret(&p.AzureKV.AuthSecretRef.ClientID)
		secret(p.AzureKV.AuthSecretRef.ClientSecret)
		secret(p.AzureKV.AuthSecretRef.ClientCertificate)
	case p.Fake != nil:
		secret(p.Fake.AuthSecretRef)
	}
	return out
}
