package chart

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// esoModule is the External Secrets Operator release whose CRDs are
// installed beside ours, as during every migration.
const esoModule = "github.com/external-secrets/external-secrets@v0.16.2"

// esoCRDs are ESO's own CRDs, from its module as the Go module proxy serves it.
func esoCRDs(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", esoModule).Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", esoModule, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: %v %s", esoModule, err, out)
	}
	return filepath.Join(mod.Dir, "config", "crds", "bases")
}

// With External Secrets Operator's CRDs installed too, vaultferry's short
// names, category and every kubectl command the README, the chart's NOTES
// and the alerts' runbooks give reach vaultferry's objects, and ESO's short
// names reach ESO's.
func TestNoCollisionWithESO(t *testing.T) {
	testenv.Require(t, env)
	ctx := context.Background()
	dir := esoCRDs(t)
	for _, kind := range []string{"externalsecrets", "secretstores", "clustersecretstores", "clusterexternalsecrets"} {
		env.MustKubectl(t, "apply", "--server-side", "-f", filepath.Join(dir, "external-secrets.io_"+kind+".yaml"))
	}
	env.MustKubectl(t, "wait", "--for=condition=Established", "crd/externalsecrets.external-secrets.io", "crd/clustersecretstores.external-secrets.io")
	ns := env.Namespace(t, nil)
	es := fixtures.ExternalSecret(ns, "ours")
	store := &vfv1alpha1.SecretStore{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "our-store"}, Spec: vfv1alpha1.SecretStoreSpec{
		Provider: vfv1alpha1.SecretStoreProvider{Fake: &vfv1alpha1.FakeProvider{}}}}
	if err := env.Client.Create(ctx, es); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, store); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "vfes", "-n", ns}, "ours"},
		{[]string{"get", "vfss", "-n", ns}, "our-store"},
		{[]string{"get", "vaultferry", "-n", ns}, "externalsecret.vaultferry.io/ours"},
		{[]string{"get", "externalsecrets.vaultferry.io", "-A"}, "ours"},
		{[]string{"-n", ns, "describe", "externalsecrets.vaultferry.io", "ours"}, "vaultferry.io/v1alpha1"},
		{[]string{"-n", ns, "describe", "secretstores.vaultferry.io", "our-store"}, "vaultferry.io/v1alpha1"},
		{[]string{"explain", "clustersecretstores.spec.provider", "--api-version=vaultferry.io/v1alpha1"}, "azurekv"},
	} {
		if out := env.MustKubectl(t, tc.args...); !strings.Contains(out, tc.want) {
			t.Errorf("kubectl %s does not show %q:\n%s", strings.Join(tc.args, " "), tc.want, out)
		}
	}
	// ESO's short names are ESO's: they never show vaultferry's objects.
	for _, short := range []string{"es", "ss"} {
		if out := env.MustKubectl(t, "get", short, "-n", ns); strings.Contains(out, "ours") || strings.Contains(out, "our-store") {
			t.Errorf("kubectl get %s shows vaultferry's objects:\n%s", short, out)
		}
	}

	// Every kubectl command in the docs names vaultferry's kinds unambiguously.
	command := regexp.MustCompile("kubectl (?:-n \\S+ )?(?:get|describe|explain|edit|delete|annotate|label|patch|wait) ([^\\s`]+)[^\n`]*")
	bare := regexp.MustCompile(`^((cluster)?(externalsecret|secretstore)s?|clusterexternalsecrets?|es|ss|css|ces)(\.spec.*)?$`)
	for _, file := range []string{"README.md", "charts/vaultferry/templates/NOTES.txt", "charts/vaultferry/files/alerts.rules.yaml", "test/demo/main.go"} {
		b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), file))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range command.FindAllStringSubmatch(string(b), -1) {
			if strings.Contains(m[0], "--api-version=vaultferry.io/") {
				continue
			}
			for _, resource := range strings.Split(m[1], ",") {
				if bare.MatchString(resource) {
					t.Errorf("%s: %q names %s, which is ESO's too when both are installed: use %s.vaultferry.io or a vf short name", file, m[0], resource, resource)
				}
			}
		}
	}
}
