package metrics_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/metrics"
	"github.com/vaultferry/vaultferry/test/fixtures"
)

// script makes the same observations on every m.
func script(ms ...*metrics.Metrics) {
	expires := time.Unix(1_800_600_000, 0)
	ok := syncedExternalSecret("team", "db", time.Unix(1_800_000_000, 0), 3)
	failing := failingExternalSecret("other", "api", vfv1alpha1.UnavailableReason)
	for _, m := range ms {
		m.ObserveSync(ok, vfv1alpha1.SyncedReason, 0, &expires)
		m.ObserveSync(ok, vfv1alpha1.SyncedReason, 0, &expires)
		m.ObserveSync(failing, vfv1alpha1.UnavailableReason, 0, nil)
		m.ObserveRollout(ok, "Deployment", "Success")
		m.ObserveStore(vfv1alpha1.SecretStoreKind, "team", "vault", true)
		m.ObserveSync(fixtures.ExternalSecret("gone", "x"), vfv1alpha1.SyncedReason, 0, nil)
		m.ForgetExternalSecret("gone", "x")
	}
}

// The operator's endpoint writes the per-ExternalSecret series as text
// itself, after the registry's metrics: a scraper reads exactly what a
// registry gathering them the usual way holds, as plain text whatever
// encoding it accepts, and only after the inner filter let it in.
func TestExposition(t *testing.T) {
	gathered, servedRegistry := prometheus.NewPedanticRegistry(), prometheus.NewPedanticRegistry()
	served := metrics.NewServed(servedRegistry)
	script(metrics.New(gathered), served)

	denyWithoutToken := func(*rest.Config, *http.Client) (metricsserver.Filter, error) {
		return func(_ logr.Logger, next http.Handler) (http.Handler, error) {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") == "" {
					http.Error(w, "Unauthorized", http.StatusUnauthorized)
					return
				}
				next.ServeHTTP(w, r)
			}), nil
		}, nil
	}
	failing := func(*rest.Config, *http.Client) (metricsserver.Filter, error) { return nil, errors.New("no client") }
	if _, err := served.Exposition(failing)(nil, nil); err == nil {
		t.Error("the inner filter's error was lost")
	}
	for _, tc := range []struct {
		name     string
		inner    metrics.FilterProvider
		token    string
		wantCode int
	}{
		{"alone", nil, "", http.StatusOK},
		{"after an authorizing filter", denyWithoutToken, "t", http.StatusOK},
		{"refused by the authorizing filter", denyWithoutToken, "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			filter, err := served.Exposition(tc.inner)(nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			handler, err := filter(logr.Discard(), promhttp.HandlerFor(servedRegistry, promhttp.HandlerOpts{}))
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.wantCode {
				t.Fatalf("HTTP %d, want %d", rec.Code, tc.wantCode)
			}
			if tc.wantCode != http.StatusOK {
				if strings.Contains(string(body), "vaultferry_") {
					t.Errorf("a refused scrape got metrics: %.200s", body)
				}
				return
			}
			if enc, ct := rec.Header().Get("Content-Encoding"), rec.Header().Get("Content-Type"); enc != "" || !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
				t.Errorf("Content-Encoding %q, Content-Type %q: want plain text", enc, ct)
			}
			if err := testutil.GatherAndCompare(gathered, strings.NewReader(string(body))); err != nil {
				t.Errorf("the scrape differs from the gathered metrics: %v\n%s", err, body)
			}
			if strings.Contains(string(body), `namespace="gone"`) {
				t.Error("a forgotten ExternalSecret's series was served")
			}
		})
	}
}
