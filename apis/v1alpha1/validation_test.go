package v1alpha1_test

import (
	"context"
	"fmt"
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
  access: {namespaces: Selected, keys: Selected}
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
	testenv.Require(t, env)
	ns := env.Namespace(t, nil)
	for name, doc := range map[string]string{
		"SecretStore with Vault token auth":  validVaultStore,
		"ClusterSecretStore with conditions": validClusterStore,
		"ExternalSecret with templateFrom, mergePolicy, refreshPolicy and decodingStrategy": strings.Replace(strings.Replace(
			withTemplate(`{engineVersion: v2, mergePolicy: Merge, templateFrom: [{configMap: {name: tpl, items: [{key: a}, {key: b, templateAs: KeysAndValues}]}}, `+
				`{secret: {name: tpl, items: [{key: c}]}, target: Annotations}, {literal: "x: y", target: Labels}]}`),
			"spec:\n", "spec:\n  refreshPolicy: OnChange\n", 1), "property: password}", "property: password, decodingStrategy: Auto}", 1),
		"ExternalSecret with target and history":                                     validExternalSecret,
		"ExternalSecret held at a version":                                           strings.Replace(validExternalSecret, "name: db\n    history", "name: db\n    holdVersion: db-7hk2m9t4bc\n    history", 1),
		"SecretStore with the fake provider":                                         storeWith(`fake: {data: [{key: k, value: v, version: "1"}]}`),
		"SecretStore with Azure workload identity":                                   storeWith(`azurekv: {vaultUrl: "https://kv.vault.azure.net", authType: WorkloadIdentity, serviceAccountRef: {name: app}}`),
		"SecretStore with Vault Kubernetes auth as its own ServiceAccount":           storeWith(`vault: {server: "https://v:8200", auth: {kubernetes: {role: r, serviceAccountRef: {name: app}}}}`),
		"ClusterSecretStore with the operator's AWS identity (the operator decides)": clusterStoreWith(`aws: {region: eu-west-1}`),
		"ExternalSecret with allowed template types and metadata":                    withTemplate(`{type: kubernetes.io/dockerconfigjson, metadata: {labels: {app: web}, annotations: {example.com/owner: team-a}}}`),
		"ExternalSecret fetched once":                                                strings.Replace(validExternalSecret, "refreshInterval: 15m", `refreshInterval: "0"`, 1),
		"ExternalSecret with a compound duration":                                    strings.Replace(validExternalSecret, "refreshInterval: 15m", "refreshInterval: 1h30m0.5s", 1),
		"store with refresh and minimum refresh intervals":                           strings.Replace(validVaultStore, "  provider:", "  refreshInterval: 90s\n  minRefreshInterval: 1m\n  provider:", 1),
		"ClusterSecretStore with namespace regexes":                                  strings.Replace(validClusterStore, "namespaces: [team-a]", "namespaceRegexes: ['team-.*', '(a|b)-[0-9]+']", 1),
		"ExternalSecret with a custom type":                                          withTemplate(`{type: example.com/my-type}`),
		"ExternalSecret with a pinned version":                                       strings.Replace(validExternalSecret, "property: password}", "property: password, version: \"3\"}", 1),
		"ClusterExternalSecret": `
apiVersion: vaultferry.io/v1alpha1
kind: ClusterExternalSecret
metadata: {name: pull}
spec:
  externalSecretName: image-pull
  externalSecretMetadata: {labels: {team: platform}}
  namespaceSelectors: [{matchLabels: {pulls: "yes"}}, {matchExpressions: [{key: tier, operator: In, values: [web]}]}]
  refreshTime: 30s
  externalSecretSpec:
    secretStoreRef: {name: shared, kind: ClusterSecretStore}
    data: [{secretKey: token, remoteRef: {key: shared/pull}}]`,
		"ExternalSecret with dynamic database credentials": esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`) + "\n  dynamic: {path: database/creds/app, renewAfterPercent: 50, reissueBefore: 10m}",
		"ExternalSecret with a dynamic certificate": esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`) + "\n  dynamic: {path: pki/issue/web, pki: {commonName: web.example.com, altNames: [api.example.com], ipSans: [10.0.0.1], ttl: 24h}}",
		"Vault store granting dynamic paths": strings.Replace(validVaultStore, "  provider:",
			"  dynamic: [{path: database/creds/app, methods: [Read]}, {path: pki/issue/*, methods: [Write]}, {path: aws/creds/**, methods: [Read, Write]}]\n  provider:", 1),
		"ClusterSecretStore granting dynamic paths per namespace": strings.Replace(strings.Replace(strings.Replace(clusterStoreWith(`vault: {server: "https://v:8200", auth: {appRole: {roleId: r, secretRef: {name: s, key: k, namespace: vaultferry-system}}}}`),
			"spec:\n", "spec:\n  dynamic: [{path: database/creds/*, methods: [Read]}]\n", 1),
			"  provider:", "  conditions: [{namespaces: [team-a], allowedDynamic: [{path: 'database/creds/{namespace}-app', methods: [Read]}]}]\n  provider:", 1),
			"namespaces: All, keys: All", "namespaces: Selected, keys: All", 1),
		"ExternalSecret with find and rewrite": withDataFrom(`[{find: {path: apps/, name: {regexp: "^apps/.*db"}, tags: {team: a}, maxKeys: 500, conversionStrategy: Default, decodingStrategy: Auto},
    rewrite: [{regexp: {source: "^apps/(.*)", target: "$1"}}, {transform: {template: "{{ .value | upper }}"}}]}, {extract: {key: apps/db}}]`),
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

// cesWith is a ClusterExternalSecret with the given selectors line and refreshTime.
func cesWith(selectors, refresh string) string {
	return `
apiVersion: vaultferry.io/v1alpha1
kind: ClusterExternalSecret
metadata: {name: ces}
spec:
  ` + selectors + `
  refreshTime: ` + refresh + `
  externalSecretSpec:
    secretStoreRef: {name: s}
    data: [{secretKey: token, remoteRef: {key: k}}]`
}

// withDataFrom is the valid ExternalSecret with a dataFrom list (flow YAML).
func withDataFrom(list string) string {
	return validExternalSecret + "\n  dataFrom: " + list
}

func TestInvalidObjectsAreRefusedWithTheRuleMessage(t *testing.T) {
	testenv.Require(t, env)
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
		"templateFrom ConfigMap in another namespace": {
			withTemplate(`{templateFrom: [{configMap: {name: tpl, namespace: other, items: [{key: k}]}}]}`),
			"templateFrom reads only from the ExternalSecret's own namespace: remove namespace",
		},
		"templateFrom Secret in another namespace": {
			withTemplate(`{templateFrom: [{secret: {name: tpl, namespace: kube-system, items: [{key: k}]}}]}`),
			"templateFrom reads only from the ExternalSecret's own namespace: remove namespace",
		},
		"templateFrom name climbing to another namespace": {
			withTemplate(`{templateFrom: [{secret: {name: "../../kube-system/secrets/x", items: [{key: k}]}}]}`),
			"spec.target.template.templateFrom[0].secret.name",
		},
		"templateFrom entry with two sources": {
			withTemplate(`{templateFrom: [{configMap: {name: tpl, items: [{key: k}]}, literal: "a: b"}]}`),
			"a templateFrom entry sets exactly one of configMap, secret or literal",
		},
		"templateFrom entry with no source": {
			withTemplate(`{templateFrom: [{target: Labels}]}`),
			"a templateFrom entry sets exactly one of configMap, secret or literal",
		},
		"templateFrom with an unknown target": {
			withTemplate(`{templateFrom: [{literal: "a: b", target: Spec}]}`),
			"spec.target.template.templateFrom[0].target",
		},
		"templateFrom with an unknown templateAs": {
			withTemplate(`{templateFrom: [{configMap: {name: tpl, items: [{key: k, templateAs: Keys}]}}]}`),
			"templateAs",
		},
		"ESO's template engine v1": {
			withTemplate(`{engineVersion: v1, data: {a: b}}`),
			"spec.target.template.engineVersion",
		},
		"unknown mergePolicy": {
			withTemplate(`{mergePolicy: Append, data: {a: b}}`),
			"spec.target.template.mergePolicy",
		},
		"unknown refreshPolicy": {
			strings.Replace(validExternalSecret, "spec:\n", "spec:\n  refreshPolicy: Always\n", 1),
			"spec.refreshPolicy",
		},
		"unknown decodingStrategy": {
			strings.Replace(validExternalSecret, "property: password}", "property: password, decodingStrategy: Hex}", 1),
			"decodingStrategy",
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
		"ClusterExternalSecret without namespaceSelectors": {
			cesWith("namespaceSelectors: []", "1m"),
			"spec.namespaceSelectors",
		},
		"ClusterExternalSecret with a name longer than a label value": {
			strings.Replace(cesWith("namespaceSelectors: [{matchLabels: {a: b}}]", "1m"), "name: ces}", "name: "+strings.Repeat("c", 64)+"}", 1),
			"a ClusterExternalSecret's name is at most 63 characters",
		},
		"ClusterExternalSecret refreshing namespaces every second": {
			cesWith("namespaceSelectors: [{matchLabels: {a: b}}]", "1s"),
			"refreshTime must be a Go duration of at least 10s",
		},
		"ClusterExternalSecret with an invalid ExternalSecret spec": {
			strings.Replace(cesWith("namespaceSelectors: [{matchLabels: {a: b}}]", "1m"), "data: [{secretKey: token, remoteRef: {key: k}}]", "data: []", 1),
			"list at least one remote secret to fetch in data or dataFrom",
		},
		"dynamic together with data": {
			validExternalSecret + "\n  dynamic: {path: database/creds/app}",
			"dynamic replaces data and dataFrom",
		},
		"dynamic credentials written to a mutable Secret": {
			strings.Replace(esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`)+"\n  dynamic: {path: database/creds/app}", "name: db\n", "name: db\n    immutable: false\n", 1),
			"dynamic credentials are versioned",
		},
		"dynamic path under sys/": {
			esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`) + "\n  dynamic: {path: sys/leases/revoke-force, method: Write}",
			"dynamic.path may not be under sys/",
		},
		"dynamic path climbing out with ..": {
			esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`) + "\n  dynamic: {path: secret/../sys/policy/pwn, method: Write}",
			"dynamic.path may not have '.' or '..' segments",
		},
		"dynamic path with a . segment": {
			esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`) + "\n  dynamic: {path: ./sys/policy/pwn}",
			"dynamic.path must be a canonical Vault path",
		},
		"dynamic path reaching auth/ with ..": {
			esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`) + "\n  dynamic: {path: x/../auth/token/lookup-self}",
			"dynamic.path may not have '.' or '..' segments",
		},
		"dynamic path with a double slash": {
			esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`) + "\n  dynamic: {path: 'database//creds/app'}",
			"dynamic.path must be a canonical Vault path",
		},
		"dynamic path with a leading slash": {
			esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`) + "\n  dynamic: {path: /database/creds/app}",
			"dynamic.path must be a canonical Vault path",
		},
		"dynamic path with a trailing slash": {
			esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`) + "\n  dynamic: {path: database/creds/app/}",
			"dynamic.path must be a canonical Vault path",
		},
		"dynamic path percent-encoded": {
			esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`) + "\n  dynamic: {path: secret/%2e%2e/sys/policy}",
			"dynamic.path must be a canonical Vault path",
		},
		"dynamic path with a full-width solidus": {
			esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`) + "\n  dynamic: {path: \"secret\uff0f..\uff0fsys\"}",
			"dynamic.path must be a canonical Vault path",
		},
		"dynamic path under a namespace's sys/": {
			esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`) + "\n  dynamic: {path: team/sys/policy/pwn}",
			"dynamic.path may not be under sys/",
		},
		"dynamic path sys alone": {
			esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`) + "\n  dynamic: {path: sys}",
			"dynamic.path may not be under sys/",
		},
		"dynamic path under identity/": {
			esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`) + "\n  dynamic: {path: identity/entity/name/x}",
			"dynamic.path may not be under sys/",
		},
		"store grant with a wildcard mount": {
			strings.Replace(validVaultStore, "  provider:", "  dynamic: [{path: '*/creds/app', methods: [Read]}]\n  provider:", 1),
			"a literal first segment",
		},
		"store grant under sys/": {
			strings.Replace(validVaultStore, "  provider:", "  dynamic: [{path: sys/policy/*, methods: [Write]}]\n  provider:", 1),
			"cannot be granted",
		},
		"store grant with ..": {
			strings.Replace(validVaultStore, "  provider:", "  dynamic: [{path: database/../sys/x, methods: [Read]}]\n  provider:", 1),
			"may not have '.' or '..' segments",
		},
		"store grant without methods": {
			strings.Replace(validVaultStore, "  provider:", "  dynamic: [{path: database/creds/app, methods: []}]\n  provider:", 1),
			"methods",
		},
		"store grant with an unknown method": {
			strings.Replace(validVaultStore, "  provider:", "  dynamic: [{path: database/creds/app, methods: [Delete]}]\n  provider:", 1),
			"Unsupported value: \"Delete\"",
		},
		"dynamic grants on an AWS store": {
			strings.Replace(validClusterStore, "  conditions:", "  dynamic: [{path: database/creds/app, methods: [Read]}]\n  conditions:", 1),
			"dynamic grants are for Vault stores only",
		},
		"Vault KV mount climbing out": {
			storeWith(`vault: {server: "https://v:8200", path: "secret/../sys", auth: {tokenSecretRef: {name: t, key: k}}}`),
			"path must be a Vault mount path",
		},
		"Vault KV mount on sys": {
			storeWith(`vault: {server: "https://v:8200", path: sys, auth: {tokenSecretRef: {name: t, key: k}}}`),
			"path may not be a system backend",
		},
		"Vault AppRole mount climbing out": {
			storeWith(`vault: {server: "https://v:8200", auth: {appRole: {path: "../../sys/policy", roleId: r, secretRef: {name: s, key: k}}}}`),
			"appRole.path must be a Vault mount path",
		},
		"Vault Kubernetes mount with a dot segment": {
			storeWith(`vault: {server: "https://v:8200", auth: {kubernetes: {mountPath: "./kubernetes", role: r, serviceAccountRef: {name: a}}}}`),
			"kubernetes.mountPath must be a Vault mount path",
		},
		"dynamic pki with parameters": {
			esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`) + "\n  dynamic: {path: pki/issue/web, parameters: {a: b}, pki: {commonName: x}}",
			"pki sets the request itself",
		},
		"dataFrom with both extract and find": {
			withDataFrom(`[{extract: {key: a}, find: {path: b}}]`),
			"a dataFrom entry sets exactly one of extract or find",
		},
		"dataFrom with neither extract nor find": {
			withDataFrom(`[{rewrite: [{regexp: {source: a, target: b}}]}]`),
			"a dataFrom entry sets exactly one of extract or find",
		},
		"find without a condition": {
			withDataFrom(`[{find: {maxKeys: 5}}]`),
			"find needs at least one of path, name or tags",
		},
		"find asking for too many keys": {
			withDataFrom(`[{find: {path: a, maxKeys: 5000}}]`),
			"spec.dataFrom[0].find.maxKeys",
		},
		"find with a Unicode conversion (External Secrets Operator's)": {
			withDataFrom(`[{find: {path: a, conversionStrategy: Unicode}}]`),
			"spec.dataFrom[0].find.conversionStrategy",
		},
		"rewrite step with both regexp and transform": {
			withDataFrom(`[{find: {path: a}, rewrite: [{regexp: {source: a, target: b}, transform: {template: x}}]}]`),
			"a rewrite step sets exactly one of regexp or transform",
		},
		"rollout target with both name and selector": {
			strings.Replace(validExternalSecret, "refreshInterval: 15m", "refreshInterval: 15m\n  rollout:\n    targets:\n    - {kind: Deployment, name: web, selector: {matchLabels: {app: web}}}", 1),
			"a rollout target sets exactly one of name or selector",
		},
		"negative refreshInterval": {
			strings.Replace(validExternalSecret, "refreshInterval: 15m", "refreshInterval: -5m", 1),
			"refreshInterval must be a non-negative Go duration",
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
			"history.minRetention must be a non-negative Go duration",
		},
		"target name that is not a DNS subdomain": {
			strings.Replace(validExternalSecret, "name: db\n    history", "name: DB_Password\n    history", 1),
			"target.name must be a DNS subdomain",
		},
		"hold on a version of another target": {
			strings.Replace(validExternalSecret, "name: db\n    history", "name: db\n    holdVersion: api-7hk2m9t4bc\n    history", 1),
			"target.holdVersion must be a version of target.name: <target.name>-<hash>",
		},
		"hold on a name that is not a Secret name": {
			strings.Replace(validExternalSecret, "name: db\n    history", "name: db\n    holdVersion: db-../x\n    history", 1),
			"target.holdVersion must be the name of a version",
		},
		"hold on a mutable target": {
			strings.Replace(validExternalSecret, "name: db\n    history", "name: db\n    immutable: false\n    holdVersion: db-7hk2m9t4bc\n    history", 1),
			"target.holdVersion holds one of the immutable versions: it needs target.immutable true",
		},
		"hold on dynamic credentials": {
			strings.Replace(esWithout(`  data:
  - secretKey: password
    remoteRef: {key: apps/db, property: password}`)+"\n  dynamic: {path: database/creds/app}", "name: db\n    history", "name: db\n    holdVersion: db-7hk2m9t4bc\n    history", 1),
			"target.holdVersion cannot hold dynamic credentials: their leases end",
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

// Every field whose Go type could fail to decode what the schema accepts
// (durations, base64 bytes, bounded integers, regular expressions) refuses
// garbage at admission. Before, a SecretStore with refreshInterval "5min"
// was stored, and the operator's SecretStore informer failed to decode it:
// every store in the cluster stopped being served.
func TestGarbageInTypedFieldsIsRefused(t *testing.T) {
	testenv.Require(t, env)
	ns := env.Namespace(t, nil)
	durations := []string{`"5min"`, `"1 hour"`, `abc`, `"-1s"`, `"1e3s"`, `""`, `5`, `true`, `"1h 30m"`, `"P1D"`}
	type field struct{ doc, old, template string }
	fields := map[string]field{
		"SecretStore refreshInterval":                {validVaultStore, "  provider:", "  refreshInterval: %s\n  provider:"},
		"SecretStore minRefreshInterval":             {validVaultStore, "  provider:", "  minRefreshInterval: %s\n  provider:"},
		"ClusterSecretStore refreshInterval":         {validClusterStore, "  provider:", "  refreshInterval: %s\n  provider:"},
		"ClusterSecretStore minRefreshInterval":      {validClusterStore, "  provider:", "  minRefreshInterval: %s\n  provider:"},
		"ExternalSecret refreshInterval":             {validExternalSecret, "refreshInterval: 15m", "refreshInterval: %s"},
		"ExternalSecret target.history.minRetention": {validExternalSecret, "minRetention: 1h", "minRetention: %s"},
	}
	cases := map[string]string{}
	for name, f := range fields {
		for _, garbage := range durations {
			cases[name+" = "+garbage] = strings.Replace(f.doc, f.old, fmt.Sprintf(f.template, garbage), 1)
		}
	}
	for name, garbage := range map[string]string{
		"caBundle not base64":          `caBundle: "not base64!"`,
		"caBundle a number":            `caBundle: 12`,
		"rateLimit.qps beyond int32":   `rateLimit: {qps: 99999999999}`,
		"rateLimit.qps a string":       `rateLimit: {qps: "10"}`,
		"rateLimit.burst a fraction":   `rateLimit: {qps: 1, burst: 1.5}`,
		"namespaceRegexes not a regex": `regex`,
		"history.limit beyond int32":   `limit`,
	} {
		switch name {
		case "namespaceRegexes not a regex":
			cases[name] = strings.Replace(validClusterStore, "namespaces: [team-a]", "namespaceRegexes: ['team-(']", 1)
		case "history.limit beyond int32":
			cases[name] = strings.Replace(validExternalSecret, "limit: 5", "limit: 99999999999", 1)
		case "caBundle not base64", "caBundle a number":
			cases[name] = strings.Replace(validVaultStore, "      auth:", "      "+garbage+"\n      auth:", 1)
		default:
			cases[name] = strings.Replace(validVaultStore, "  provider:", "  "+garbage+"\n  provider:", 1)
		}
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			obj := parse(t, doc)
			obj.SetNamespace(ns)
			obj.SetName("")
			obj.SetGenerateName("garbage-")
			if err := env.Client.Create(context.Background(), obj); err == nil {
				t.Fatalf("accepted:\n%s", doc)
			} else if strings.Contains(name, "Interval") || strings.Contains(name, "minRetention") {
				if !strings.Contains(err.Error(), "Go duration like 30s, 15m or 1h") && !strings.Contains(err.Error(), "must be of type string") {
					t.Errorf("the refusal does not name the format: %v", err)
				}
			}
		})
	}
}

func TestKubectlExplainShowsFieldDocs(t *testing.T) {
	testenv.Require(t, env)
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

// A ClusterSecretStore says how open it is, and its conditions must open
// exactly that: never all namespaces or all keys by omission.
func TestClusterStoreAccessIsDeclared(t *testing.T) {
	testenv.Require(t, env)
	ns := env.Namespace(t, nil)
	store := func(access, conditions string) string {
		doc := clusterStoreWith(`fake: {}`)
		doc = strings.Replace(doc, "  access: {namespaces: All, keys: All}\n", access, 1)
		return doc + conditions
	}
	valid := map[string]string{
		"every namespace, every key":                  store("  access: {namespaces: All, keys: All}\n", ""),
		"every namespace, each its own keys":          store("  access: {namespaces: All, keys: Selected}\n", "\n  conditions: [{namespaceSelector: {}, allowedKeys: ['tenants/{namespace}/*']}]"),
		"selected namespaces, every key":              store("  access: {namespaces: Selected, keys: All}\n", "\n  conditions: [{namespaces: [a]}]"),
		"selected namespaces by label, selected keys": store("  access: {namespaces: Selected, keys: Selected}\n", "\n  conditions: [{namespaceSelector: {matchLabels: {team: a}}, allowedKeys: [a/*]}]"),
		"one condition opens all, another only some":  store("  access: {namespaces: All, keys: All}\n", "\n  conditions: [{namespaces: [a], allowedKeys: [a/*]}, {namespaceSelector: {}}]"),
	}
	for name, doc := range valid {
		t.Run(name, func(t *testing.T) {
			if err := createIn(t, ns, doc); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
	refused := map[string]struct{ doc, want string }{
		"no access":                          {store("", ""), "a ClusterSecretStore must declare how open it is"},
		"Selected namespaces, no conditions": {store("  access: {namespaces: Selected, keys: All}\n", ""), "access.namespaces is Selected, but there are no conditions"},
		"Selected namespaces, an empty selector": {
			store("  access: {namespaces: Selected, keys: All}\n", "\n  conditions: [{namespaceSelector: {}}]"), "one has an empty namespaceSelector"},
		"All namespaces, conditions select some": {
			store("  access: {namespaces: All, keys: All}\n", "\n  conditions: [{namespaces: [a]}]"), "access.namespaces is All, but the conditions admit only the namespaces they select"},
		"Selected keys, a condition without allowedKeys": {
			store("  access: {namespaces: Selected, keys: Selected}\n", "\n  conditions: [{namespaces: [a], allowedKeys: [a/*]}, {namespaces: [b]}]"), "access.keys is Selected, but there are no conditions, or one has no allowedKeys"},
		"Selected keys, no conditions": {store("  access: {namespaces: All, keys: Selected}\n", ""), "access.keys is Selected"},
		"All keys, every condition lists keys": {
			store("  access: {namespaces: Selected, keys: All}\n", "\n  conditions: [{namespaces: [a], allowedKeys: [a/*]}]"), "access.keys is All, but every condition lists allowedKeys"},
		"a SecretStore with access": {strings.Replace(storeWith(`fake: {}`), "spec:\n", "spec:\n  access: {namespaces: All, keys: All}\n", 1), "access is only for a ClusterSecretStore"},
		"an unknown scope":          {store("  access: {namespaces: Everyone, keys: All}\n", ""), "Unsupported value: \"Everyone\""},
	}
	for name, tc := range refused {
		t.Run(name, func(t *testing.T) {
			err := createIn(t, ns, tc.doc)
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.doc)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("refusal does not say %q:\n%v", tc.want, err)
			}
		})
	}
}

func storeWith(provider string) string {
	return "apiVersion: vaultferry.io/v1alpha1\nkind: SecretStore\nmetadata: {name: s}\nspec:\n  provider:\n    " + provider
}

// clusterStoreWith is a ClusterSecretStore open to every namespace and key.
func clusterStoreWith(provider string) string {
	return strings.Replace(strings.Replace(storeWith(provider), "kind: SecretStore", "kind: ClusterSecretStore", 1),
		"spec:\n", "spec:\n  access: {namespaces: All, keys: All}\n", 1)
}

func withTemplate(template string) string {
	return strings.Replace(validExternalSecret, "name: db\n    history", "name: db\n    template: "+template+"\n    history", 1)
}

func esWithout(part string) string {
	return strings.Replace(validExternalSecret, part, "", 1)
}

// createIn creates doc under a generated name (in namespace when namespaced).
func createIn(t *testing.T, namespace, doc string) error {
	t.Helper()
	obj := parse(t, doc)
	obj.SetNamespace(namespace)
	obj.SetName("")
	obj.SetGenerateName("v-")
	return env.Client.Create(context.Background(), obj)
}

func parse(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
		t.Fatalf("test YAML does not parse: %v\n%s", err, doc)
	}
	return obj
}
