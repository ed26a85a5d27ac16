package externalsecret_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/controllers/metrics"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// Syncs show in the metrics, and a deleted ExternalSecret's series go with it.
func TestMetricsFollowTheExternalSecretLifecycle(t *testing.T) {
	testenv.Require(t, env)
	reg := prometheus.NewRegistry()
	operator.Start(t, env, controllers.Config{Registry: providers.MustNewRegistry(fake.New()), Metrics: metrics.New(reg)})
	ns := env.Namespace(t, nil)
	readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"m"}`)...)
	es := fixtures.ExternalSecret(ns, "app")
	operator.Create(t, env.Client, es)
	synced(t, es, "")

	// The operator also syncs other tests' ExternalSecrets: count this namespace's series.
	seriesOf := func(name string) int {
		return len(operator.MatchingSeries(t, reg, name, map[string]string{"namespace": ns}))
	}
	series := func() int { return seriesOf("vaultferry_externalsecret_ready") }
	if n := series(); n != 1 {
		t.Fatalf("%d ready series after the sync, want 1", n)
	}
	if err := env.Client.Delete(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(operator.Timeout)
	for series() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the deleted ExternalSecret's series remain")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, name := range []string{"vaultferry_sync_total", "vaultferry_externalsecret_versions", "vaultferry_externalsecret_last_sync_timestamp_seconds"} {
		if n := seriesOf(name); n != 0 {
			t.Errorf("%s keeps %d series of the deleted ExternalSecret", name, n)
		}
	}
}
