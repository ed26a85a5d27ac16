package externalsecret_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/controllers/metrics"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// throttler answers reads of keys with its prefix with Throttled while on,
// and records when each key was asked for.
type throttler struct {
	prefix string
	mu     sync.Mutex
	on     bool
	calls  map[string][]time.Time
}

func (th *throttler) hook(_ context.Context, _ string, ref providers.Ref) error {
	if !strings.HasPrefix(ref.Key, th.prefix) {
		return nil
	}
	th.mu.Lock()
	defer th.mu.Unlock()
	if !th.on {
		return nil
	}
	th.calls[ref.Key] = append(th.calls[ref.Key], time.Now())
	return providers.Errorf(providers.ErrThrottled, "fake: HTTP 429 reading %s", ref.Key)
}

func (th *throttler) set(on bool) {
	th.mu.Lock()
	defer th.mu.Unlock()
	th.on = on
}

func (th *throttler) snapshot() map[string][]time.Time {
	th.mu.Lock()
	defer th.mu.Unlock()
	out := map[string][]time.Time{}
	for k, v := range th.calls {
		out[k] = append([]time.Time(nil), v...)
	}
	return out
}

// A throttled vault is not hammered: every ExternalSecret says Throttled,
// retries back off exponentially, ExternalSecrets throttled together do not
// retry together, every throttled answer counts in the metrics, and all
// recover once the vault answers again.
func TestThrottledSyncsBackOffWithJitter(t *testing.T) {
	testenv.Require(t, env)
	th := &throttler{prefix: "busy-", on: true, calls: map[string][]time.Time{}}
	reg := prometheus.NewRegistry()
	operator.Start(t, env, controllers.Config{Registry: providers.MustNewRegistry(fake.New(fake.WithHook(th.hook))), Metrics: metrics.New(reg)})
	ns := env.Namespace(t, nil)
	const count = 8
	var data []string
	for i := range count {
		data = append(data, fmt.Sprintf("busy-%d", i), `{"password":"`+valueV1+`"}`)
	}
	readyStore(t, ns, "store", fixtures.FakeData(data...)...)
	var all []*vfv1alpha1.ExternalSecret
	for i := range count {
		es := fixtures.ExternalSecret(ns, fmt.Sprintf("app-%d", i), fixtures.WithData("password", fmt.Sprintf("busy-%d", i), "password"))
		operator.Create(t, env.Client, es)
		all = append(all, es)
	}
	for _, es := range all {
		operator.WaitForReason(t, env.Client, es, metav1.ConditionFalse, vfv1alpha1.ThrottledReason)
	}
	const watch = 6 * time.Second
	time.Sleep(watch)
	calls := th.snapshot()

	// Backoff: 0.5–1 s, 1–2 s, 2–4 s, ... after the first attempt; a
	// queue without backoff would retry hundreds of times in these seconds.
	retryDelays := map[int][]time.Duration{} // by retry round: the first retries, the second
	total := 0
	for key, at := range calls {
		total += len(at)
		if len(at) > 6 {
			t.Errorf("%s was read %d times while throttled for ~%v, want at most 6 (exponential backoff)", key, len(at), watch)
		}
		if len(at) < 2 {
			t.Errorf("%s was read %d times while throttled, want retries", key, len(at))
			continue
		}
		for round := 1; round <= 2 && round < len(at); round++ {
			retryDelays[round] = append(retryDelays[round], at[round].Sub(at[round-1]))
		}
		for i := 2; i < len(at); i++ {
			if grew := at[i].Sub(at[i-1]); grew < at[i-1].Sub(at[i-2])/2 {
				t.Errorf("%s: retry %d came %v after the previous, sooner than half the gap before it: no backoff", key, i, grew)
			}
		}
	}
	if len(calls) != count {
		t.Fatalf("%d of %d keys were read", len(calls), count)
	}
	// Jitter: the retries of objects throttled at the same moment spread
	// out. On a loaded machine the queue may release one round of due
	// retries together, so the widest of the first two rounds counts;
	// without jitter neither round spreads.
	widest := time.Duration(0)
	for _, delays := range retryDelays {
		lo, hi := delays[0], delays[0]
		for _, d := range delays {
			lo, hi = min(lo, d), max(hi, d)
		}
		widest = max(widest, hi-lo)
	}
	if widest < 100*time.Millisecond {
		t.Errorf("retries of the first two rounds spread by at most %v: not jittered (%v)", widest, retryDelays)
	}

	throttled := operator.MetricValue(t, reg, "vaultferry_provider_requests_total", map[string]string{"store": ns + "/store", "result": "Throttled"})
	if throttled < float64(total) {
		t.Errorf("vaultferry_provider_requests_total{result=Throttled} = %v, want at least the %d throttled reads", throttled, total)
	}

	th.set(false)
	for _, es := range all {
		if got := operator.SyncedValue(t, env.Client, es, "password"); got != valueV1 {
			t.Fatalf("%s synced %q after throttling ended", es.Name, got)
		}
	}
}
