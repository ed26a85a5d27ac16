package externalsecret_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
)

// Stopping the operator mid-sync and starting it again leaves exactly one
// version per ExternalSecret, under the same names: the hash key survives
// restarts and creation is idempotent.
func TestRestartMidwayMakesNoDuplicatesOrOrphans(t *testing.T) {
	const count = 8
	first, _ := start(t)
	ns := env.Namespace(t, nil)
	var data []vfv1alpha1.FakeProviderData
	for i := range count {
		data = append(data, fixtures.FakeData(fmt.Sprintf("key-%d", i), fmt.Sprintf(`{"password":"restart-%d"}`, i))...)
	}
	readyStore(t, ns, "store", data...)
	ess := make([]*vfv1alpha1.ExternalSecret, count)
	for i := range ess {
		ess[i] = fixtures.ExternalSecret(ns, fmt.Sprintf("app-%d", i), fixtures.WithData("password", fmt.Sprintf("key-%d", i), "password"))
		operator.Create(t, env.Client, ess[i])
	}
	// Stop as soon as the first version appears, while others are in flight.
	deadline := time.Now().Add(operator.Timeout)
	for len(managedSecrets(t, ns)) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	first.Stop(t)
	beforeRestart := managedSecrets(t, ns)
	t.Logf("%d of %d versions existed when the operator stopped", len(beforeRestart), count)

	second, _ := start(t)
	names := map[string]string{}
	for _, es := range ess {
		es = synced(t, es, "")
		names[es.Name] = es.Status.CurrentSecretName
	}
	after := managedSecrets(t, ns)
	if len(after) != count {
		t.Fatalf("%d managed Secrets after restart, want exactly %d (one per ExternalSecret): %v", len(after), count, keys(after))
	}
	for name, rv := range beforeRestart {
		if after[name] != rv {
			t.Errorf("version %s created before the restart was replaced or rewritten", name)
		}
	}
	for es, current := range names {
		if _, ok := after[current]; !ok {
			t.Errorf("%s points at %s, which does not exist", es, current)
		}
	}

	// A further restart changes nothing at all: same names, same objects.
	second.Stop(t)
	start(t)
	for _, es := range ess {
		operator.ForceSync(t, env.Client, es)
		if got := synced(t, es, "").Status.CurrentSecretName; got != names[es.Name] {
			t.Errorf("%s moved from %s to %s across a restart", es.Name, names[es.Name], got)
		}
	}
	if final := managedSecrets(t, ns); !maps.Equal(final, after) {
		t.Errorf("versions changed across a restart:\nbefore %v\nafter  %v", after, final)
	}
}

// managedSecrets maps the names of the namespace's managed Secrets to their resourceVersions.
func managedSecrets(t *testing.T, namespace string) map[string]string {
	t.Helper()
	list := &corev1.SecretList{}
	if err := env.Client.List(context.Background(), list, client.InNamespace(namespace),
		client.MatchingLabels{vfv1alpha1.ManagedLabel: "true"}); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range list.Items {
		out[s.Name] = s.ResourceVersion
	}
	return out
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
