package metrics

import (
	"net/http"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// FilterProvider is the type of metricsserver.Options.FilterProvider.
type FilterProvider = func(cfg *rest.Config, httpClient *http.Client) (metricsserver.Filter, error)

// textFormat is the exposition format the endpoint serves.
const textFormat = "text/plain;version=0.0.4"

// Exposition is a metrics server FilterProvider; next, when given, filters
// each request first (e.g. WithTokenReviewAuth). It serves the registry's
// metrics and then, for Metrics made by NewServed, the per-ExternalSecret
// series written straight from their records (appendObjectSeries), all in
// the text format and uncompressed, whatever the scraper accepts: the text
// format is what Prometheus reads from any exporter, and the scrape crosses
// the cluster network only, where bytes are cheap, while promhttp's gzip
// writer holds about 1 MiB of compression tables per scrape.
func (m *Metrics) Exposition(next FilterProvider) FilterProvider {
	return func(cfg *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
		var inner metricsserver.Filter
		if next != nil {
			var err error
			if inner, err = next(cfg, httpClient); err != nil {
				return nil, err
			}
		}
		return func(log logr.Logger, registry http.Handler) (http.Handler, error) {
			serve := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				req = req.Clone(req.Context())
				req.Header.Del("Accept-Encoding")
				req.Header.Set("Accept", textFormat)
				status := &statusRecorder{ResponseWriter: w}
				registry.ServeHTTP(status, req)
				if !m.served || status.code != http.StatusOK || req.Method == http.MethodHead {
					return
				}
				if _, err := w.Write(m.appendObjectSeries(nil)); err != nil {
					log.V(1).Info("Writing the per-ExternalSecret series to a scraper", "error", err.Error())
				}
			})
			if inner == nil {
				return serve, nil
			}
			return inner(log, serve)
		}, nil
	}
}

// statusRecorder remembers the status code the registry's handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}
