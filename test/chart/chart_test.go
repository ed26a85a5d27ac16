// Package chart tests the Helm chart and the kustomize config against the
// real API server: lint, render, server-side dry-run, and a real install.
package chart

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vaultferry/vaultferry/test/testenv"
)

var env *testenv.Env

// The controller manager aggregates the tenant roles into edit, admin and view.
func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env, (*testenv.Env).StartControllerManager)) }

var (
	chartDir   = filepath.Join(testenv.RepoRoot(), "charts", "vaultferry")
	allOptions = filepath.Join(chartDir, "ci", "all-options-values.yaml")
)

// valueSets are the values every chart test runs with.
var valueSets = map[string][]string{
	"default values":       nil,
	"every option enabled": {"-f", allOptions},
}

func helm(t *testing.T, args ...string) string {
	t.Helper()
	return testenv.Helm(t, args...)
}

// applyDryRun sends manifests to the API server for full validation without
// persisting them; strict: a field the schema does not know is an error,
// also for the Prometheus Operator's kinds (testdata/monitoring-crds.yaml).
func applyDryRun(t *testing.T, manifests string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "manifests.yaml")
	if err := os.WriteFile(file, []byte(manifests), 0o600); err != nil {
		t.Fatal(err)
	}
	return env.MustKubectl(t, "apply", "--dry-run=server", "--validate=strict", "-f", file)
}

func TestHelmLint(t *testing.T) {
	testenv.Require(t, env)
	for name, values := range valueSets {
		t.Run(name, func(t *testing.T) {
			out := helm(t, append([]string{"lint", "--strict", chartDir}, values...)...)
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint:\n%s", out)
			}
		})
	}
}

func TestHelmTemplateAppliesOnTheServer(t *testing.T) {
	testenv.Require(t, env)
	env.MustKubectl(t, "apply", "-f", filepath.Join("testdata", "monitoring-crds.yaml"))
	env.MustKubectl(t, "create", "namespace", "vaultferry-render")
	for name, values := range valueSets {
		t.Run(name, func(t *testing.T) {
			manifests := helm(t, append([]string{"template", "vaultferry", chartDir, "--namespace", "vaultferry-render", "--include-crds", "--kube-version", "1.37.2"}, values...)...)
			out := applyDryRun(t, manifests)
			for _, kind := range []string{"deployment.apps/", "clusterrole.rbac.authorization.k8s.io/", "poddisruptionbudget.policy/", "service/"} {
				if !strings.Contains(out, kind) {
					t.Errorf("rendered chart lacks a %s object:\n%s", kind, out)
				}
			}
			if values != nil {
				for _, kind := range []string{"servicemonitor.monitoring.coreos.com/", "prometheusrule.monitoring.coreos.com/", "configmap/vaultferry-dashboard",
					"secret/vaultferry-metrics-token", "clusterrolebinding.rbac.authorization.k8s.io/vaultferry-metrics-scraper"} {
					if !strings.Contains(out, kind) {
						t.Errorf("all-options render lacks %s:\n%s", kind, out)
					}
				}
				if strings.Contains(manifests, "bearerTokenFile") || !strings.Contains(manifests, "authorization:") {
					t.Error("the ServiceMonitor should use authorization, not the deprecated bearerTokenFile")
				}
				// A given serving certificate, verified by its CA: no insecureSkipVerify.
				for _, want := range []string{"- --metrics-cert-dir=/etc/vaultferry/metrics-certs", "secretName: vaultferry-metrics-tls", "key: ca.crt", "serverName: vaultferry-metrics.vaultferry-helm.svc"} {
					if !strings.Contains(manifests, want) {
						t.Errorf("all-options render lacks %q", want)
					}
				}
				if strings.Contains(manifests, "insecureSkipVerify") {
					t.Error("the ServiceMonitor skips verification although a CA is given")
				}
			} else {
				// By default the endpoint's certificate is self-signed: a ServiceMonitor cannot verify it.
				monitored := helm(t, "template", "vaultferry", chartDir, "--set", "serviceMonitor.enabled=true")
				if strings.Contains(manifests, "metrics-cert-dir") || !strings.Contains(monitored, "insecureSkipVerify: true") {
					t.Error("without metrics.certSecret: no --metrics-cert-dir, and a ServiceMonitor that skips verification")
				}
			}
		})
	}
}

// What a platform team expects of the chart's defaults and its schema: no
// PodDisruptionBudget that would block drains with one replica, no second
// replica without leader election, the fake provider off unless asked for.
func TestChartGuardsItsValues(t *testing.T) {
	testenv.Require(t, env)
	render := func(args ...string) string {
		return helm(t, append([]string{"template", "vaultferry", chartDir}, args...)...)
	}
	if out := render("--set", "replicaCount=1"); strings.Contains(out, "kind: PodDisruptionBudget") {
		t.Error("a PodDisruptionBudget is rendered with one replica: it would block every node drain")
	}
	if out := render(); !strings.Contains(out, "kind: PodDisruptionBudget") {
		t.Error("no PodDisruptionBudget with the default two replicas")
	}
	for _, args := range [][]string{{"--set", "replicaCount=2", "--set", "leaderElection.enabled=false"}, {"--set", "replicaCount=5", "--set", "leaderElection.enabled=false"}} {
		out, err := testenv.TryHelm(t, append([]string{"template", "vaultferry", chartDir}, args...)...)
		if err == nil || !strings.Contains(out, "every replica would reconcile at once") || !strings.Contains(out, "Set leaderElection.enabled=true, or replicaCount=1") {
			t.Errorf("%v rendered (%v): more than one replica without leader election must be refused, saying why and what to do:\n%s", args, err, out)
		}
	}
	if _, err := testenv.TryHelm(t, "template", "vaultferry", chartDir, "--set", "replicaCount=1", "--set", "leaderElection.enabled=false"); err != nil {
		t.Errorf("one replica without leader election is fine: %v", err)
	}
	if out := render(); strings.Contains(out, "--enable-fake-provider") {
		t.Error("the fake provider is on by default")
	}
	if out := render("--set", "fakeProvider.enabled=true"); !strings.Contains(out, "- --enable-fake-provider") {
		t.Error("fakeProvider.enabled does not enable it")
	}
}

// The policies are rendered only for clusters that serve the v1 policy API
// (Kubernetes 1.36+), and can be turned off.
func TestStableReferencePoliciesNeedTheAPI(t *testing.T) {
	testenv.Require(t, env)
	const api = "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"
	cases := []struct {
		name string
		args []string
		want bool
	}{
		{"cluster serving the v1 policy API", []string{"--api-versions", api}, true},
		{"cluster before 1.36", []string{"--kube-version", "1.35.0"}, false},
		{"turned off", []string{"--api-versions", api, "--set", "stableReferences.installPolicies=false"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := helm(t, append([]string{"template", "vaultferry", chartDir}, tc.args...)...)
			if got := strings.Contains(out, "kind: MutatingAdmissionPolicy\n"); got != tc.want {
				t.Errorf("MutatingAdmissionPolicy rendered: %t, want %t", got, tc.want)
			}
			if got := strings.Contains(out, "kind: ValidatingAdmissionPolicy\n"); got != tc.want {
				t.Errorf("ValidatingAdmissionPolicy rendered: %t, want %t", got, tc.want)
			}
		})
	}
}

func TestKustomizeConfigAppliesOnTheServer(t *testing.T) {
	testenv.Require(t, env)
	// A dry-run namespace is not there for the namespaced objects after it.
	env.MustKubectl(t, "create", "namespace", "vaultferry-system")
	out := applyDryRun(t, env.MustKubectl(t, "kustomize", filepath.Join(testenv.RepoRoot(), "config", "default")))
	for _, want := range []string{"deployment.apps/vaultferry", "clusterrole.rbac.authorization.k8s.io/vaultferry-metrics-reader", "poddisruptionbudget.policy/vaultferry"} {
		if !strings.Contains(out, want) {
			t.Errorf("config/default lacks %s (the chart ships it):\n%s", want, out)
		}
	}
	// The samples need their namespaces to exist for a namespaced dry run.
	samples := filepath.Join(testenv.RepoRoot(), "config", "samples")
	env.MustKubectl(t, "apply", "-f", filepath.Join(samples, "00-namespaces.yaml"))
	applyDryRun(t, env.MustKubectl(t, "kustomize", samples))
	out = env.MustKubectl(t, "apply", "--dry-run=server", "-f", filepath.Join(samples, "providers"))
	for _, store := range []string{"vault-token", "vault-kubernetes", "vault-approle", "aws-keys", "aws-irsa", "azure-sp", "azure-workload-identity"} {
		if !strings.Contains(out, "/"+store+" created") {
			t.Errorf("provider sample %s not accepted:\n%s", store, out)
		}
	}
}

func TestHelmInstall(t *testing.T) {
	testenv.Require(t, env)
	env.MustKubectl(t, "apply", "-f", filepath.Join("testdata", "monitoring-crds.yaml"))
	helm(t, "install", "vaultferry", chartDir, "--kubeconfig", env.Kubeconfig,
		"--namespace", "vaultferry-helm", "--create-namespace", "-f", allOptions)

	d := &appsv1.Deployment{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "vaultferry-helm", Name: "vaultferry"}, d); err != nil {
		t.Fatalf("the chart's Deployment was not created: %v", err)
	}
	c := d.Spec.Template.Spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container security context is not locked down: %+v", sc)
	}
	if ps := d.Spec.Template.Spec.SecurityContext; ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.SeccompProfile == nil || ps.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod security context: %+v", ps)
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"--leader-elect=true", "--concurrency=8", "--store-concurrency=4", "--metrics-bind-address=:9090", "--metrics-secure=true", "--zap-encoder=json",
		"--cluster-store-credentials-namespace=vaultferry-system", "--watch-namespaces=payments,checkout", "--stable-references=admission", "--rollout-batch-window=5s"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
	if c.LivenessProbe == nil || c.ReadinessProbe == nil || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("probes or limits missing: %+v", c)
	}
	if *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %d, want 3", *d.Spec.Replicas)
	}
	// The test API server (1.37) serves MutatingAdmissionPolicy: the chart installed the policies.
	for _, kind := range []string{"mutatingadmissionpolicy", "mutatingadmissionpolicybinding", "validatingadmissionpolicy", "validatingadmissionpolicybinding"} {
		env.MustKubectl(t, "get", kind, "vaultferry-stable-references")
	}
	status := helm(t, "status", "vaultferry", "--kubeconfig", env.Kubeconfig, "--namespace", "vaultferry-helm")
	if !strings.Contains(status, "STATUS: deployed") {
		t.Errorf("helm status:\n%s", status)
	}
}
