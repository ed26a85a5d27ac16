package requeue

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/handler"
)

func TestJitterStaysWithinTenPercent(t *testing.T) {
	base := time.Hour
	seen := map[time.Duration]bool{}
	for range 1000 {
		got := Jitter(base)
		if got < 54*time.Minute || got > 66*time.Minute {
			t.Fatalf("Jitter(%v) = %v, outside ±10%%", base, got)
		}
		seen[got] = true
	}
	if len(seen) < 100 {
		t.Fatalf("Jitter returned only %d distinct values in 1000 calls; it does not spread", len(seen))
	}
	if got := Jitter(0); got != 0 {
		t.Fatalf("Jitter(0) = %v, want 0 (refresh disabled)", got)
	}
}

func TestAsFindsWrappedError(t *testing.T) {
	inner := New(Stall, "InvalidTemplate", errors.New("bad"))
	wrapped := fmt.Errorf("rendering: %w", inner)
	if got := As(wrapped, "Other"); got != inner {
		t.Fatalf("As did not find the wrapped *Error: %#v", got)
	}
	plain := As(errors.New("boom"), "ProviderError")
	if plain.Kind != Retry || plain.Reason != "ProviderError" {
		t.Fatalf("As(plain) = %+v, want Retry/ProviderError", plain)
	}
}

func TestBackoffGrowsAndSpreadsRetries(t *testing.T) {
	limiter := JitteredBackoff[string](time.Second, 16*time.Second)
	for failure, step := range []time.Duration{1, 2, 4, 8, 16, 16} {
		step *= time.Second
		got := limiter.When("es")
		if got < step/2 || got > step {
			t.Fatalf("retry %d: delay %v, want within [%v, %v]", failure+1, got, step/2, step)
		}
	}
	if n := limiter.NumRequeues("es"); n != 6 {
		t.Fatalf("NumRequeues = %d, want 6", n)
	}
	limiter.Forget("es")
	if got := limiter.When("es"); got > time.Second {
		t.Fatalf("after Forget the first delay is %v, want at most the 1s base", got)
	}

	// Many items failing together (one throttled vault) must not retry together.
	first := map[time.Duration]bool{}
	for i := range 200 {
		first[limiter.When(fmt.Sprintf("es-%d", i))] = true
	}
	if len(first) < 150 {
		t.Fatalf("200 items failing together got only %d distinct first delays", len(first))
	}
}

func TestBackgroundRequeuesBehindUserChanges(t *testing.T) {
	got := Background(time.Hour)
	if got.Priority == nil || *got.Priority != handler.LowPriority {
		t.Fatalf("Background priority = %v, want handler.LowPriority (%d): new ExternalSecrets must go ahead of refreshes", got.Priority, handler.LowPriority)
	}
	if got.RequeueAfter != time.Hour {
		t.Fatalf("Background(1h) requeues after %v", got.RequeueAfter)
	}
}

// A deadline that passed during the reconcile must still requeue: a zero
// RequeueAfter means "never" to controller-runtime.
func TestBackgroundNeverDropsTheObject(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Nanosecond, -time.Minute, time.Nanosecond} {
		if got := Background(d).RequeueAfter; got < MinBackground {
			t.Errorf("Background(%v) requeues after %v, want at least %v", d, got, MinBackground)
		}
	}
}

func TestJitterForIsStablePerSeedAndSpreadsAcrossSeeds(t *testing.T) {
	seen := map[time.Duration]bool{}
	for i := range 1000 {
		seed := fmt.Sprintf("uid-%d/1700000000", i)
		got := JitterFor(time.Hour, seed)
		if got < 54*time.Minute || got > 66*time.Minute {
			t.Fatalf("JitterFor(1h) = %v, outside ±10%%", got)
		}
		if again := JitterFor(time.Hour, seed); again != got {
			t.Fatalf("JitterFor moved the deadline for one seed: %v then %v", got, again)
		}
		seen[got] = true
	}
	if len(seen) < 900 {
		t.Fatalf("JitterFor gave only %d distinct values for 1000 seeds", len(seen))
	}
}
