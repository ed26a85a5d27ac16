package v1alpha1_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/vaultferry/vaultferry/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

const (
	validVaultStore = `
apiVersion: vaultferry.io/v1alpha1
kind: SecretStore
metadata: {name: vault}
spec:
  provider:
    vault:
      server: https://vault.example.com:8200
      auth: {tokenSecretRef: {name: vault-token, key: token}}`
	validClusterStore = `
apiVersion: vaultferry.io/v1alpha1
kind: ClusterSecretStore
metadata: {name: shared}
spec:
  provider:
    aws:
      region: eu-west-1
      auth:
        secretRef:
          accessKeyIDSecretRef: {name: aws, key: id, namespace: vaultferry-system}
          secretAccessKeySecretRef: {name: aws, key: secret, namespace: vaultferry-system}
  conditions:
  - namespaces: [team-a]
    allowedKeys: ["tenants/{namespace}/*"]`
	validExternalSecret = `
apiVersion: vaultferry.io/v1alpha1
kind: ExternalSecret
metadata: {name: db}
spec:
  secretStoreRef: {name: vault}
  refreshInterval: 15m
  target:
    name: db
    history: {limit: 5, minRetention: 1h}
  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`
)

func TestValidObjectsAreAccepted(t *testing.T) {
	ns := env.Namespace(t, nil)
	for name, doc := range map[string]string{
		"SecretStore with Vault token auth":                                          validVaultStore,
		"ClusterSecretStore with conditions":                                         validClusterStore,
		"ExternalSecret with target and history":                                     validExternalSecret,
		"SecretStore with the fake provider":                                         storeWith(`fake: {data: [{key: k, value: v, version: "1"}]}`),
		"SecretStore with Azure workload identity":                                   storeWith(`azurekv: {vaultUrl: "https://kv.vault.azure.net", authType: WorkloadIdentity, serviceAccountRef: {name: app}}`),
		"SecretStore with Vault Kubernetes auth as its own ServiceAccount":           storeWith(`vault: {server: "https://v:8200", auth: {kubernetes: {role: r, serviceAccountRef: {name: app}}}}`),
		"ClusterSecretStore with the operator's AWS identity (the operator decides)": clusterStoreWith(`aws: {region: eu-west-1}`),
		"ExternalSecret with allowed template types and metadata":                    withTemplate(`{type: kubernetes.io/dockerconfigjson, metadata: {labels: {app: web}, annotations: {example.com/owner: team-a}}}`),
		"ExternalSecret with a custom type":                                          withTemplate(`{type: example.com/my-type}`),
		"ExternalSecret with a pinned version":                                       strings.Replace(validExternalSecret, "property: password}", "property: password, version: \"3\"}", 1),
	} {
		t.Run(name, func(t *testing.T) {
			obj := parse(t, doc)
			obj.SetNamespace(ns)
			obj.SetName("")
			obj.SetGenerateName("valid-")
			if err := env.Client.Create(context.Background(), obj); err != nil {
				t.Fatalf("valid object refused: %v", err)
			}
		})
	}
}

func TestInvalidObjectsAreRefusedWithTheRuleMessage(t *testing.T) {
	ns := env.Namespace(t, nil)
	tests := map[string]struct {
		doc  string
		want string
	}{
		"store with two providers": {
			storeWith(`{fake: {}, aws: {region: eu-west-1}}`),
			"exactly one provider must be set: vault, aws, azurekv or fake",
		},
		"store with no provider": {
			storeWith(`{}`),
			"exactly one provider must be set",
		},
		"Vault with two auth methods": {
			storeWith(`vault: {server: "https://v:8200", auth: {tokenSecretRef: {name: t, key: t}, kubernetes: {role: r}}}`),
			"exactly one Vault auth method must be set: tokenSecretRef, appRole or kubernetes",
		},
		"Vault AppRole with both roleId and roleRef": {
			storeWith(`vault: {server: "https://v:8200", auth: {appRole: {roleId: r, roleRef: {name: a, key: b}, secretRef: {name: a, key: c}}}}`),
			"set exactly one of roleId or roleRef",
		},
		"Vault server that is not a URL": {
			storeWith(`vault: {server: "vault:8200", auth: {tokenSecretRef: {name: t, key: t}}}`),
			"spec.provider.vault.server",
		},
		"AWS with two auth methods": {
			storeWith(`aws: {region: eu-west-1, auth: {jwt: {serviceAccountRef: {name: a}}, secretRef: {accessKeyIDSecretRef: {name: a, key: b}, secretAccessKeySecretRef: {name: a, key: c}}}}`),
			"exactly one AWS auth method must be set: secretRef or jwt",
		},
		"Azure service principal without credentials": {
			storeWith(`azurekv: {vaultUrl: "https://kv.vault.azure.net", authType: ServicePrincipal}`),
			"authType ServicePrincipal needs authSecretRef",
		},
		"SecretStore reference naming another namespace": {
			storeWith(`vault: {server: "https://v:8200", auth: {tokenSecretRef: {name: t, key: t, namespace: other}}}`),
			"a SecretStore can only use Secrets and ServiceAccounts in its own namespace",
		},
		"SecretStore ServiceAccount in another namespace": {
			storeWith(`aws: {region: eu-west-1, auth: {jwt: {serviceAccountRef: {name: a, namespace: other}}}}`),
			"a SecretStore can only use Secrets and ServiceAccounts in its own namespace",
		},
		"SecretStore with conditions": {
			validVaultStore + "\n  conditions: [{namespaces: [a]}]",
			"conditions are only allowed on a ClusterSecretStore",
		},
		"ClusterSecretStore credential without namespace": {
			strings.Replace(validVaultStore, "kind: SecretStore", "kind: ClusterSecretStore", 1),
			"in a ClusterSecretStore, tokenSecretRef must name its namespace",
		},
		"SecretStore logging in to Vault as the operator": {
			storeWith(`vault: {server: "https://v:8200", auth: {kubernetes: {role: r}}}`),
			"a SecretStore cannot log in to Vault with the operator's own ServiceAccount token",
		},
		"SecretStore using the operator's AWS credentials": {
			storeWith(`aws: {region: eu-west-1, role: "arn:aws:iam::123456789012:role/admin"}`),
			"a SecretStore cannot use the operator's own AWS credentials",
		},
		"SecretStore using the operator's Azure managed identity": {
			storeWith(`azurekv: {vaultUrl: "https://kv.vault.azure.net", authType: ManagedIdentity}`),
			"a SecretStore cannot use the managed identity of the operator's node or pod",
		},
		"ClusterSecretStore AppRole secret without namespace": {
			clusterStoreWith(`vault: {server: "https://v:8200", auth: {appRole: {roleId: r, secretRef: {name: a, key: b}}}}`),
			"every Secret and ConfigMap reference",
		},
		"ClusterSecretStore CA ConfigMap without namespace": {
			clusterStoreWith(`vault: {server: "https://v:8200", caProvider: {type: ConfigMap, name: ca, key: ca.crt}, auth: {tokenSecretRef: {name: t, key: t, namespace: ops}}}`),
			"every Secret and ConfigMap reference",
		},
		"ClusterSecretStore client certificate without namespace": {
			clusterStoreWith(`vault: {server: "https://v:8200", clientTLSSecretRef: {name: tls}, auth: {tokenSecretRef: {name: t, key: t, namespace: ops}}}`),
			"every Secret and ConfigMap reference",
		},
		"ClusterSecretStore AWS session token without namespace": {
			clusterStoreWith(`aws: {region: eu-west-1, auth: {secretRef: {accessKeyIDSecretRef: {name: a, key: b, namespace: ops}, secretAccessKeySecretRef: {name: a, key: c, namespace: ops}, sessionTokenSecretRef: {name: a, key: d}}}}`),
			"every Secret and ConfigMap reference",
		},
		"ClusterSecretStore fake credential without namespace": {
			clusterStoreWith(`fake: {authSecretRef: {name: a, key: b}, token: x}`),
			"every Secret and ConfigMap reference",
		},
		"template type service-account-token": {
			withTemplate(`{type: kubernetes.io/service-account-token, metadata: {annotations: {kubernetes.io/service-account.name: default}}}`),
			"ServiceAccount and bootstrap token types are refused",
		},
		"template type bootstrap token": {
			withTemplate(`{type: bootstrap.kubernetes.io/token}`),
			"ServiceAccount and bootstrap token types are refused",
		},
		"template type under kubernetes.io that is not allowed": {
			withTemplate(`{type: kubernetes.io/not-a-type}`),
			"ServiceAccount and bootstrap token types are refused",
		},
		"template type without a domain": {
			withTemplate(`{type: mytype}`),
			"a custom type with a domain prefix",
		},
		"template annotation making a token": {
			withTemplate(`{metadata: {annotations: {kubernetes.io/service-account.name: default}}}`),
			"kubernetes.io/service-account.*",
		},
		"template annotation of the operator": {
			withTemplate(`{metadata: {annotations: {vaultferry.io/revision: "99"}}}`),
			"template annotations cannot set vaultferry.io/ keys",
		},
		"template label of the operator": {
			withTemplate(`{metadata: {labels: {vaultferry.io/external-secret: other}}}`),
			"template labels cannot set vaultferry.io/ keys",
		},
		"remote version climbing a path": {
			strings.Replace(validExternalSecret, "property: password}", "property: password, version: ..}", 1),
			"remoteRef.version cannot contain '..'",
		},
		"remote version with a slash": {
			strings.Replace(validExternalSecret, "property: password}", "property: password, version: a/b}", 1),
			"spec.data[0].remoteRef.version",
		},
		"ExternalSecret without data or dataFrom": {
			esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`),
			"list at least one remote secret to fetch in data or dataFrom",
		},
		"rollout target with both name and selector": {
			strings.Replace(validExternalSecret, "refreshInterval: 15m", "refreshInterval: 15m\n  rollout:\n    targets:\n    - {kind: Deployment, name: web, selector: {matchLabels: {app: web}}}", 1),
			"a rollout target sets exactly one of name or selector",
		},
		"negative refreshInterval": {
			strings.Replace(validExternalSecret, "refreshInterval: 15m", "refreshInterval: -5m", 1),
			"refreshInterval must not be negative",
		},
		"history limit 0": {
			strings.Replace(validExternalSecret, "limit: 5", "limit: 0", 1),
			"spec.target.history.limit: Invalid value: 0: spec.target.history.limit in body should be greater than or equal to 1",
		},
		"history limit 101": {
			strings.Replace(validExternalSecret, "limit: 5", "limit: 101", 1),
			"should be less than or equal to 100",
		},
		"negative minRetention": {
			strings.Replace(validExternalSecret, "minRetention: 1h", "minRetention: -1h", 1),
			"history.minRetention must not be negative",
		},
		"target name that is not a DNS subdomain": {
			strings.Replace(validExternalSecret, "name: db\n    history", "name: DB_Password\n    history", 1),
			"target.name must be a DNS subdomain",
		},
		"target name too long for the hash suffix": {
			strings.Replace(validExternalSecret, "name: db\n    history", "name: "+strings.Repeat("a", 243)+"\n    history", 1),
			"may not be more than 242",
		},
		"secret key with a slash": {
			strings.Replace(validExternalSecret, "secretKey: password", "secretKey: a/b", 1),
			"spec.data[0].secretKey",
		},
		"unknown store kind": {
			strings.Replace(validExternalSecret, "{name: vault}", "{name: vault, kind: Vault}", 1),
			`Unsupported value: "Vault"`,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			obj := parse(t, tt.doc)
			obj.SetNamespace(ns)
			err := env.Client.Create(context.Background(), obj)
			if err == nil {
				t.Fatalf("invalid object accepted; want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error does not say %q:\n%v", tt.want, err)
			}
		})
	}
}

func TestKubectlExplainShowsFieldDocs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out string
	var err error
	// The API server publishes a new CRD's OpenAPI a moment after it is established.
	for range 30 {
		if out, err = env.Kubectl(ctx, "explain", "externalsecret.spec.target"); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatalf("kubectl explain: %v\n%s", err, out)
	}
	for _, want := range []string{"immutable", "Immutable, the default, writes each distinct content as a new immutable", "history", "deletionPolicy"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl explain output lacks %q:\n%s", want, out)
		}
	}
}

func storeWith(provider string) string {
	return "apiVersion: vaultferry.io/v1alpha1\nkind: SecretStore\nmetadata: {name: s}\nspec:\n  provider:\n    " + provider
}

func clusterStoreWith(provider string) string {
	return strings.Replace(storeWith(provider), "kind: SecretStore", "kind: ClusterSecretStore", 1)
}

func withTemplate(template string) string {
	return strings.Replace(validExternalSecret, "name: db\n    history", "name: db\n    template: "+template+"\n    history", 1)
}

func esWithout(part string) string {
	return strings.Replace(validExternalSecret, part, "", 1)
}

func parse(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
		t.Fatalf("test YAML does not parse: %v\n%s", err, doc)
	}
	return obj
}
