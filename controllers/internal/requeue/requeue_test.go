package requeue

import (
	"errors"
	"fmt"
	"testing"
	"time"
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
