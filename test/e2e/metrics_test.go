// Package e2e runs the operator binary as a child process against the test
// control plane.
package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

// With --metrics-secure the metrics endpoint is HTTPS and only a caller
// allowed to get /metrics (TokenReview + SubjectAccessReview) reads it.
// The same start shows the client-side rate limit chosen for an API server
// with API Priority and Fairness.
func TestSecureMetricsNeedAnAuthorizedToken(t *testing.T) {
	testenv.Require(t, env)
	ctx := context.Background()
	if out, err := env.Kubectl(ctx, "create", "namespace", operator.Namespace); err != nil && !strings.Contains(out, "AlreadyExists") {
		t.Fatalf("%v: %s", err, out)
	}
	bin, err := operator.BuildBinary(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	proc, err := operator.StartBinary(ctx, bin, env.Kubeconfig, nil, "--metrics-secure")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proc.Stop)
	url := strings.Replace(proc.MetricsURL, "http://", "https://", 1)
	// The secure endpoint makes its certificate first; it may listen a moment after /readyz answers.
	waitForListener(t, strings.TrimSuffix(strings.TrimPrefix(url, "https://"), "/metrics"))

	scraper := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: operator.Namespace, Name: "prometheus"}}
	stranger := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: operator.Namespace, Name: "stranger"}}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "vaultferry-metrics-reader"},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "vaultferry-metrics-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: operator.Namespace}}}
	operator.Create(t, env.Client, scraper, stranger, role, binding)

	var compressed bool
	scrape := func(token string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		// The endpoint's certificate is self-signed; what is tested is who may read.
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // see above
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		compressed = compressed || resp.Uncompressed // the transport asked for gzip and unpacked it
		return resp.StatusCode, string(b)
	}
	token := func(sa *corev1.ServiceAccount) string {
		tr := &authenticationv1.TokenRequest{}
		if err := env.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}

	if code, _ := scrape(""); code != http.StatusUnauthorized {
		t.Errorf("anonymous scrape: HTTP %d, want 401", code)
	}
	if code, _ := scrape("not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("scrape with a token the API server does not know: HTTP %d, want 401", code)
	}
	if code, _ := scrape(token(stranger)); code != http.StatusForbidden {
		t.Errorf("scrape by a ServiceAccount without the metrics role: HTTP %d, want 403", code)
	}
	scraperToken := token(scraper)
	for range 2 { // the second answer is remembered
		code, body := scrape(scraperToken)
		if code != http.StatusOK || !strings.Contains(body, "# HELP") {
			t.Errorf("authorized scrape: HTTP %d", code)
		}
		// The GC target is the operator's default unless the environment sets one.
		gogc := os.Getenv("GOGC")
		if gogc == "" {
			gogc = "50"
		}
		if !strings.Contains(body, "\ngo_gc_gogc_percent "+gogc+"\n") {
			t.Errorf("the scrape does not show GOGC %s", gogc)
		}
	}
	if compressed {
		t.Error("the metrics were gzip-compressed; they are served as plain text")
	}
	if code, _ := scrape(token(stranger)); code != http.StatusForbidden {
		t.Errorf("a remembered answer for one token served another: HTTP %d, want 403", code)
	}
	if strings.Contains(proc.Logs(), scraperToken) {
		t.Error("the operator logged a scraper's token")
	}

	// The test control plane has API Priority and Fairness: no client-side limit.
	if !strings.Contains(proc.Logs(), "none: the API server has API Priority and Fairness") {
		t.Errorf("the operator did not log that it runs without a client-side rate limit:\n%s", proc.Logs())
	}
}

// With --metrics-cert-dir the endpoint serves the certificate it is given
// (a cert-manager Certificate's Secret, mounted), which a scraper verifies
// with the CA alone, as the chart's ServiceMonitor tlsConfig does.
func TestMetricsServeTheGivenCertificate(t *testing.T) {
	testenv.Require(t, env)
	ctx := context.Background()
	if out, err := env.Kubectl(ctx, "create", "namespace", operator.Namespace); err != nil && !strings.Contains(out, "AlreadyExists") {
		t.Fatalf("%v: %s", err, out)
	}
	certs := t.TempDir()
	ca := testenv.WriteServingCertificate(t, certs)
	bin, err := operator.BuildBinary(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	proc, err := operator.StartBinary(ctx, bin, env.Kubeconfig, nil, "--metrics-secure", "--metrics-cert-dir", certs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proc.Stop)
	url := strings.Replace(proc.MetricsURL, "http://", "https://", 1)
	waitForListener(t, strings.TrimSuffix(strings.TrimPrefix(url, "https://"), "/metrics"))

	verified := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca, MinVersion: tls.VersionTLS12}}}
	resp, err := verified.Get(url)
	if err != nil {
		t.Fatalf("a scraper trusting only the CA: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized { // TLS verified; no token sent
		t.Errorf("HTTP %d, want 401 from the verified endpoint", resp.StatusCode)
	}
	other := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: testenv.WriteServingCertificate(t, t.TempDir()), MinVersion: tls.VersionTLS12}}}
	if resp, err := other.Get(url); err == nil {
		_ = resp.Body.Close()
		t.Error("a scraper trusting another CA connected: the endpoint does not serve the given certificate")
	}
}

func waitForListener(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(operator.Timeout)
	for time.Now().Before(deadline) {
		if conn, err := net.Dial("tcp", addr); err == nil {
			_ = conn.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "vaultferry-e2e-") }

// The test control plane says which release it is (the binaries are built
// from k8s.io/kubernetes stamped as the Kubernetes build stamps them), so
// `kubectl version` in the demo answers as on any cluster.
func TestControlPlaneReportsItsRelease(t *testing.T) {
	testenv.Require(t, env)
	mod, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "hack", "tools", "kube", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	release := regexp.MustCompile(`(?m)^require k8s.io/kubernetes (v\S+)$`).FindSubmatch(mod)
	if release == nil {
		t.Fatal("hack/tools/kube/go.mod pins no k8s.io/kubernetes release")
	}
	var versions struct {
		Client struct{ GitVersion string } `json:"clientVersion"`
		Server struct{ GitVersion string } `json:"serverVersion"`
	}
	if err := json.Unmarshal([]byte(env.MustKubectl(t, "version", "-o", "json")), &versions); err != nil {
		t.Fatal(err)
	}
	if want := string(release[1]); versions.Client.GitVersion != want || versions.Server.GitVersion != want {
		t.Errorf("kubectl version: client %q, server %q; want %s for both (binaries built before they were stamped: run make test-peers)", versions.Client.GitVersion, versions.Server.GitVersion, want)
	}
}
