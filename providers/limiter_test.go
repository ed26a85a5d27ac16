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

// A store without spec.rateLimit starts at AdaptiveMaxQPS, halves at a
// Throttled answer (once per cooldown, never below the floor), recovers by a
// quarter per quiet interval; a store with spec.rateLimit never changes.
func TestAdaptiveRateLimit(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	l := newStoreLimiter(nil, clock)
	steps := []struct {
		after time.Duration
		class Class
		want  float64
	}{
		{0, "Success", 100},
		{0, ClassThrottled, 50},
		{100 * time.Millisecond, ClassThrottled, 50}, // within the cooldown: one burst of 429s halves once
		{time.Second, ClassThrottled, 25},
		{10 * time.Second, "Success", 25}, // not quiet long enough
		{30 * time.Second, "Success", 31.25},
		{30 * time.Second, ClassNotFound, 39.0625},
	}
	for i, s := range steps {
		now = now.Add(s.after)
		l.observe(s.class)
		if got := l.rate(); got != s.want {
			t.Fatalf("step %d (%s after %v): rate %v, want %v", i, s.class, s.after, got, s.want)
		}
	}
	for range 20 {
		now = now.Add(time.Second)
		l.observe(ClassThrottled)
	}
	if got := l.rate(); got != AdaptiveMinQPS {
		t.Fatalf("after many throttles: rate %v, want the floor %v", got, float64(AdaptiveMinQPS))
	}
	for range 40 {
		now = now.Add(adaptiveRecovery)
		l.observe("Success")
	}
	if got := l.rate(); got != AdaptiveMaxQPS {
		t.Fatalf("after a long quiet: rate %v, want the ceiling %v", got, float64(AdaptiveMaxQPS))
	}

	fixed := newStoreLimiter(&vfv1alpha1.RateLimit{QPS: 7, Burst: 7}, clock)
	fixed.observe(ClassThrottled)
	if got := fixed.rate(); got != 7 {
		t.Fatalf("a fixed rateLimit changed to %v", got)
	}
	if !l.sameSpec(nil) || l.sameSpec(&vfv1alpha1.RateLimit{QPS: 7}) || !fixed.sameSpec(&vfv1alpha1.RateLimit{QPS: 7, Burst: 7}) {
		t.Error("sameSpec")
	}
}
