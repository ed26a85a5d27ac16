package controllers

import (
	"context"
	"fmt"
	"net/http"
	"os"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/rest"
)

// Client-side limits used when the API server does not queue fairly itself
// (API Priority and Fairness off). client-go applies them per API group
// client (core, vaultferry.io, events, ...), not to the whole process.
const (
	FallbackKubeQPS   = 200
	FallbackKubeBurst = 400
)

// ClientRateLimit sets cfg's client-side rate limit: qps > 0 as given (with
// burst, at least qps), qps < 0 none, and qps == 0 (the default) none when the API server
// has API Priority and Fairness, else FallbackKubeQPS. With APF the server
// queues each client fairly by flow and priority level, so a client-side
// token bucket only makes the operator wait while the server is idle (as
// kubectl and cert-manager conclude too). It returns what it chose, for the
// startup log.
func ClientRateLimit(ctx context.Context, cfg *rest.Config, qps float32, burst int) (string, error) {
	switch {
	case qps > 0:
		cfg.QPS, cfg.Burst = qps, max(burst, int(qps))
		return fmt.Sprintf("%g/s, burst %d (--kube-api-qps)", qps, cfg.Burst), nil
	case qps < 0:
		cfg.QPS, cfg.Burst = -1, 0
		return "none (--kube-api-qps)", nil
	}
	fair, err := hasPriorityAndFairness(ctx, cfg)
	if err != nil {
		return "", err
	}
	if fair {
		cfg.QPS, cfg.Burst = -1, 0
		return "none: the API server has API Priority and Fairness", nil
	}
	cfg.QPS, cfg.Burst = FallbackKubeQPS, FallbackKubeBurst
	return fmt.Sprintf("%d/s, burst %d: the API server does not have API Priority and Fairness", FallbackKubeQPS, FallbackKubeBurst), nil
}

// hasPriorityAndFairness asks /livez/ping once: the API Priority and
// Fairness filter names the FlowSchema it matched in a response header.
func hasPriorityAndFairness(ctx context.Context, cfg *rest.Config) (bool, error) {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return false, fmt.Errorf("creating an HTTP client for the API server: %w", err)
	}
	server, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return false, err
	}
	server.Path += "/livez/ping"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server.String(), nil)
	if err != nil {
		return false, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("asking the API server for API Priority and Fairness: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, fair := resp.Header[http.CanonicalHeaderKey(flowcontrolv1.ResponseHeaderMatchedFlowSchemaUID)]
	return fair, nil
}

// PreferListThenWatch makes informers start with a list and a watch instead
// of client-go's watch-list stream, unless KUBE_FEATURE_WatchListClient says
// otherwise. Call it before any client is built. The API server ends a
// watch-list's initial events with a bookmark sent on a timer of about a
// second (kubernetes/kubernetes#122277), and the controllers wait for every
// informer: make bench measured 1.4–1.5× the raw write limit for a cold sync
// of 1000 ExternalSecrets with lists, 1.8–2.1× with streams, the same peak
// memory. Large lists (template sources of a big cluster) are held whole
// while decoded; those informers start only when a template needs them.
func PreferListThenWatch() {
	if _, set := os.LookupEnv("KUBE_FEATURE_" + string(clientfeatures.WatchListClient)); set {
		return
	}
	clientfeatures.ReplaceFeatureGates(withoutWatchList{clientfeatures.FeatureGates()})
}

type withoutWatchList struct{ clientfeatures.Gates }

func (g withoutWatchList) Enabled(f clientfeatures.Feature) bool {
	return f != clientfeatures.WatchListClient && g.Gates.Enabled(f)
}
