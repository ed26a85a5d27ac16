package externalsecret_test

import (
	"fmt"
	"strings"
	"testing"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
)

// A find at its largest (1000 keys with names near the 253-character limit
// of a Secret key) syncs: the version does not try to carry 1000 remote
// version ids in its annotations, which allow 256 KiB in all.
func TestTheLargestFindSyncs(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	var kv []string
	for i := range 1000 {
		key := fmt.Sprintf("big/%s-%04d", strings.Repeat("k", 240), i)
		kv = append(kv, key, fmt.Sprintf("v%d", i))
	}
	data := fixtures.FakeData(kv...)
	for i := range data {
		data[i].Version = "version-id-of-some-length"
	}
	readyStore(t, ns, "store", data...)
	path := "big/"
	es := fixtures.ExternalSecret(ns, "big", fixtures.WithFind(vfv1alpha1.ExternalSecretFind{Path: &path, MaxKeys: 1000}))
	operator.Create(t, env.Client, es)
	got := synced(t, es, "")
	secret := getSecret(t, ns, got.Status.CurrentSecretName)
	if len(secret.Data) != 1000 || string(secret.Data[fmt.Sprintf("big_%s-%04d", strings.Repeat("k", 240), 7)]) != "v7" {
		t.Fatalf("the version holds %d keys", len(secret.Data))
	}
}
