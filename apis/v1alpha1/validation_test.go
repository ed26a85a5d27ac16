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
		"SecretStore with Vault token auth":        validVaultStore,
		"ClusterSecretStore with conditions":       validClusterStore,
		"ExternalSecret with target and history":   validExternalSecret,
		"SecretStore with the fake provider":       storeWith(`fake: {data: [{key: k, value: v, version: "1"}]}`),
		"SecretStore with Azure workload identity": storeWith(`azurekv: {vaultUrl: "https://kv.vault.azure.net", authType: WorkloadIdentity, serviceAccountRef: {name: app}}`),
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
