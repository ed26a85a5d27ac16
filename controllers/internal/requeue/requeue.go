// Package requeue holds the error → requeue policy the reconcilers share: which
// failures retry with backoff, which wait for something else to change, and
// which stall until the spec changes.
package requeue

import (
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
)

// Jitter spreads d by ±10% so that objects created together do not refresh,
// and hit their vault, together.
func Jitter(d time.Duration) time.Duration {
	return spreadBy(d, rand.Int64N)
}

// JitterFor spreads d by ±10% like Jitter, but always the same way for the
// same seed: a deadline that is re-checked on every wake-up must not move, or
// early wake-ups chase it in ever smaller steps.
func JitterFor(d time.Duration, seed string) time.Duration {
	return spreadBy(d, func(n int64) int64 {
		h := fnv.New64a()
		_, _ = h.Write([]byte(seed))
		return int64(h.Sum64() % uint64(n))
	})
}

// spreadBy returns d - 10% + pick(n), pick choosing in [0, n) with n one
// more than 20% of d.
func spreadBy(d time.Duration, pick func(n int64) int64) time.Duration {
	spread := int64(d) / 5
	if d <= 0 || spread <= 0 {
		return d
	}
	return d - d/10 + time.Duration(pick(spread+1))
}

// MinBackground is the shortest background requeue. It also stands in for a
// deadline that passed while the reconcile ran: a zero or negative
// RequeueAfter would not requeue at all, and the object would never be
// looked at again.
const MinBackground = time.Second

// Background schedules a reconcile nobody is waiting for (a periodic
// refresh, a recheck of a store or of a remote secret) after d, at least
// MinBackground, at low priority in the work queue: new and edited objects,
// which a user is waiting for, go ahead of it even when thousands of
// refreshes are due. The queue keeps the priority for retries of a failed
// background reconcile; a change to the object raises it again.
func Background(d time.Duration) ctrl.Result {
	return ctrl.Result{RequeueAfter: max(d, MinBackground), Priority: ptr.To(handler.LowPriority)}
}

// Kind says how a failed reconcile is retried.
type Kind int

const (
	// Retry is for transient failures (network, throttling, permission
	// fixable outside the spec): the reconciler returns the error and the
	// queue backs off.
	Retry Kind = iota
	// Wait is for an object blocked on another (a store that is missing or
	// not Ready): a watch wakes it, or a recheck after a fixed delay.
	Wait
	// Later is for a remote secret that does not exist yet: it is rechecked
	// after the refresh interval.
	Later
	// Stall is for failures only a spec change can fix: no retry until then.
	Stall
	// Defer is for work not attempted yet (the store's client-side rate
	// limit): it is requeued After, and status is left as it is.
	Defer
)

// Error is a failure with a stable condition Reason and a retry Kind. Its
// message is shown in conditions and events, so it never holds secret values.
type Error struct {
	Kind   Kind
	Reason string
	Err    error
	// After, for Wait, is how soon to look again when the cause says so
	// (a client-side rate limit); 0 uses the caller's default.
	After time.Duration
}

func (e *Error) Error() string { return e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// New wraps err with a reason and a retry kind.
func New(kind Kind, reason string, err error) *Error {
	return &Error{Kind: kind, Reason: reason, Err: err}
}

// As returns the *Error in err's chain, or one of kind Retry with fallbackReason.
func As(err error, fallbackReason string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: Retry, Reason: fallbackReason, Err: err}
}

// ForProvider classifies a provider error (see providers.Classify) into a
// condition reason and a retry kind. invalidReason names what an ErrInvalid
// means at the call site: bad data for a sync, bad configuration for a store.
func ForProvider(err error, invalidReason string) error {
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	var limited *providers.RateLimitedError
	if errors.As(err, &limited) {
		return &Error{Kind: Defer, Reason: vfv1alpha1.ThrottledReason, Err: err, After: limited.After}
	}
	switch providers.Classify(err) {
	case providers.ClassNotFound:
		return New(Later, vfv1alpha1.NotFoundReason, err)
	case providers.ClassForbidden:
		return New(Retry, vfv1alpha1.ForbiddenReason, err)
	case providers.ClassThrottled:
		return New(Retry, vfv1alpha1.ThrottledReason, err)
	case providers.ClassUnavailable:
		return New(Retry, vfv1alpha1.UnavailableReason, err)
	case providers.ClassInvalid:
		return New(Stall, invalidReason, err)
	default:
		return New(Retry, vfv1alpha1.ProviderErrorReason, err)
	}
}
