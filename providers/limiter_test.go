package providers

import (
	"testing"
	"time"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// The store's rate is split between the namespaces that read through it: a
// namespace alone gets all of it, a newcomer gets a token without queueing
// behind the first one's backlog, and a namespace idle for the active window
// stops counting.
func TestStoreLimiterSharesTheRate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newStoreLimiter(&vfv1alpha1.RateLimit{QPS: 4, Burst: 4}, func() time.Time { return now })
	take := func(tenant string) time.Duration {
		d, _ := l.reserve(tenant)
		return d
	}

	for i := range 4 { // alone: the whole burst at once
		if d := take("a"); d != 0 {
			t.Fatalf("read %d of a namespace alone waits %v, want none within the burst", i, d)
		}
	}
	if d := take("a"); d != 250*time.Millisecond {
		t.Fatalf("past the burst a namespace alone waits %v, want 1/qps = 250ms", d)
	}

	// b arrives: it waits only for the store's total, not behind a's share.
	if d := take("b"); d > 500*time.Millisecond {
		t.Errorf("a newcomer waits %v behind the busy namespace", d)
	}
	// a now has half the rate: its next reads space out twice as much.
	first, second := take("a"), take("a")
	if gap := second - first; gap < 400*time.Millisecond {
		t.Errorf("with two namespaces active, a's reads are %v apart, want about 2/qps = 500ms", gap)
	}

	// b goes idle past the active window: a gets the whole rate back.
	now = now.Add(activeWindow + time.Second)
	for range 4 {
		take("a")
	}
	if n := len(l.shares); n != 1 {
		t.Errorf("%d namespaces still count as active after the window, want 1", n)
	}
}

// A cancelled reservation gives its token back, so a deferred read does not
// cost the store's rate.
func TestStoreLimiterReleaseGivesTheTokenBack(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newStoreLimiter(&vfv1alpha1.RateLimit{QPS: 1, Burst: 1}, func() time.Time { return now })
	if d, _ := l.reserve("a"); d != 0 {
		t.Fatalf("first read waits %v", d)
	}
	d, release := l.reserve("a")
	if d != time.Second {
		t.Fatalf("second read waits %v, want 1s", d)
	}
	release()
	if again, _ := l.reserve("a"); again != time.Second {
		t.Errorf("after a release the next read waits %v, want the released slot (1s)", again)
	}
}
