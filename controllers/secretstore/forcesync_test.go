package secretstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// outageProvider is the fake provider whose checks fail while down is set:
// a backend refusing the store for a reason outside the cluster (a Vault
// policy, a network path).
type outageProvider struct {
	*fake.Provider
	down   atomic.Bool
	checks atomic.Int64
}

func (p *outageProvider) NewClient(ctx context.Context, store vfv1alpha1.GenericStore, kube providers.Kube, ns string) (providers.Client, error) {
	c, err := p.Provider.NewClient(ctx, store, kube, ns)
	return &outageClient{Client: c, p: p}, err
}

type outageClient struct {
	providers.Client
	p *outageProvider
}

func (c *outageClient) Check(context.Context) error {
	c.p.checks.Add(1)
	if c.p.down.Load() {
		return providers.Errorf(providers.ErrUnavailable, "backend down")
	}
	return nil
}

// The vaultferry.io/force-sync annotation validates a store now, instead of
// at the end of its backoff after repeated failures.
func TestStoreForceSync(t *testing.T) {
	testenv.Require(t, env)
	p := &outageProvider{Provider: fake.New()}
	p.down.Store(true)
	operator.Start(t, env, controllers.Config{Registry: providers.MustNewRegistry(p)})
	ns := env.Namespace(t, nil)
	store := fixtures.FakeStore(ns, "store")
	operator.Create(t, env.Client, store)
	waitForReady(t, store, metav1.ConditionFalse, vfv1alpha1.UnavailableReason)
	deadline := time.Now().Add(operator.Timeout)
	for p.checks.Load() < 5 { // the next retry is 8-16s away
		if time.Now().After(deadline) {
			t.Fatalf("only %d checks", p.checks.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}

	p.down.Store(false)
	before := store.DeepCopy()
	store.Annotations = map[string]string{vfv1alpha1.ForceSyncAnnotation: "now"}
	if err := env.Client.Patch(context.Background(), store, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
	forced := time.Now()
	waitForReady(t, store, metav1.ConditionTrue, vfv1alpha1.ValidatedReason)
	if took := time.Since(forced); took > 6*time.Second {
		t.Errorf("the store was validated %v after the force-sync: the annotation did not trigger it", took)
	}
}
