package metrics_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vaultferry/vaultferry/controllers/metrics"
)

// Metrics are served as plain text to a scraper that accepts gzip (as
// Prometheus does), after the inner filter has had its say.
func TestUncompressed(t *testing.T) {
	registry := prometheus.NewRegistry()
	registry.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "vaultferry_test_gauge", Help: "A gauge."}))
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
	if _, err := metrics.Uncompressed(failing)(nil, nil); err == nil {
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
			filter, err := metrics.Uncompressed(tc.inner)(nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			handler, err := filter(logr.Discard(), promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept-Encoding", "gzip")
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
				return
			}
			if enc := rec.Header().Get("Content-Encoding"); enc != "" || !strings.Contains(string(body), "vaultferry_test_gauge 0") {
				t.Errorf("Content-Encoding %q, body %.80q", enc, body)
			}
			if req.Header.Get("Accept-Encoding") != "gzip" {
				t.Error("the caller's request was changed")
			}
		})
	}
}
