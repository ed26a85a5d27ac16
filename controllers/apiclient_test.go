package controllers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/rest"
)

func TestClientRateLimit(t *testing.T) {
	fairServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/livez/ping" {
			t.Errorf("asked %s, want /livez/ping", r.URL.Path)
		}
		w.Header().Set(flowcontrolv1.ResponseHeaderMatchedFlowSchemaUID, "3f1a")
	}))
	defer fairServer.Close()
	plainServer := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer plainServer.Close()

	for _, tc := range []struct {
		name      string
		server    string
		qps       float32
		burst     int
		wantQPS   float32
		wantBurst int
	}{
		{"APF: no client-side limit", fairServer.URL, 0, 0, -1, 0},
		{"no APF: the fallback limit", plainServer.URL, 0, 0, FallbackKubeQPS, FallbackKubeBurst},
		{"explicit limit wins over APF", fairServer.URL, 50, 100, 50, 100},
		{"burst at least the explicit rate", plainServer.URL, 50, 0, 50, 50},
		{"explicitly none without APF", plainServer.URL, -1, 0, -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &rest.Config{Host: tc.server}
			if _, err := ClientRateLimit(context.Background(), cfg, tc.qps, tc.burst); err != nil {
				t.Fatal(err)
			}
			if cfg.QPS != tc.wantQPS || cfg.Burst != tc.wantBurst {
				t.Errorf("QPS, burst = %g, %d; want %g, %d", cfg.QPS, cfg.Burst, tc.wantQPS, tc.wantBurst)
			}
		})
	}

	t.Run("unreachable API server", func(t *testing.T) {
		if _, err := ClientRateLimit(context.Background(), &rest.Config{Host: "http://127.0.0.1:1"}, 0, 0); err == nil {
			t.Error("no error for an API server that does not answer")
		}
	})
}

func TestPreferListThenWatch(t *testing.T) {
	if _, set := os.LookupEnv("KUBE_FEATURE_WatchListClient"); set {
		t.Skip("KUBE_FEATURE_WatchListClient is set: the environment decides")
	}
	PreferListThenWatch()
	if clientfeatures.FeatureGates().Enabled(clientfeatures.WatchListClient) {
		t.Error("informers still start with a watch-list stream")
	}
	if !clientfeatures.FeatureGates().Enabled(clientfeatures.InformerResourceVersion) {
		t.Error("another client-go feature was switched off")
	}
}
