package metrics

import (
	"net/http"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// FilterProvider is the type of metricsserver.Options.FilterProvider.
type FilterProvider = func(cfg *rest.Config, httpClient *http.Client) (metricsserver.Filter, error)

// Uncompressed is a metrics server FilterProvider that serves the metrics
// without content encoding, whatever the scraper accepts; next, when given,
// filters the request first (e.g. WithTokenReviewAuth). The scrape crosses
// the cluster network only, where bytes are cheap, while promhttp's gzip
// writer holds about 1 MiB of compression tables per scrape: with 1000
// ExternalSecrets (640 KB of text) that was a sixth of the heap.
func Uncompressed(next FilterProvider) FilterProvider {
	return func(cfg *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
		var inner metricsserver.Filter
		if next != nil {
			var err error
			if inner, err = next(cfg, httpClient); err != nil {
				return nil, err
			}
		}
		return func(log logr.Logger, handler http.Handler) (http.Handler, error) {
			identity := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				req = req.Clone(req.Context())
				req.Header.Del("Accept-Encoding")
				handler.ServeHTTP(w, req)
			})
			if inner == nil {
				return identity, nil
			}
			return inner(log, identity)
		}, nil
	}
}
