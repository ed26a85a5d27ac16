package providers

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

const (
	// activeWindow is how long a namespace that read through a store counts
	// as active for the split of the store's rate.
	activeWindow = 10 * time.Second
	// MaxRateLimitWait is the longest a read waits for the store's rate
	// limit while holding a worker; past it the read is deferred
	// (RateLimitedError) and the worker serves others meanwhile.
	MaxRateLimitWait = 2 * time.Second
)

// RateLimitedError says a read was not made because the store's client-side
// rate limit, or the reading namespace's share of it, would have made it
// wait longer than MaxRateLimitWait. It is ErrThrottled.
type RateLimitedError struct {
	// After is when a token will be free for the namespace.
	After time.Duration
	// Store is the store, "<namespace>/<name>" or a ClusterSecretStore's name.
	Store string
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("client-side rate limit of store %s: this namespace's share is used up, next read in %s", e.Store, e.After.Round(time.Millisecond))
}

// Unwrap makes a RateLimitedError an ErrThrottled.
func (e *RateLimitedError) Unwrap() error { return ErrThrottled }

// storeLimiter is a store's client-side rate limit, shared by every client
// of the store (a ClusterSecretStore using tenant identities has one client
// per namespace) and split between the namespaces reading through it: each
// active namespace gets an equal share of the rate and burst, and a
// namespace alone gets all of it. One namespace hammering a shared store
// therefore delays only itself.
type storeLimiter struct {
	total *rate.Limiter
	now   func() time.Time
	// spec is the store's rateLimit; nil makes the limit adaptive.
	spec *vfv1alpha1.RateLimit

	mu         sync.Mutex
	qps        float64
	burst      int
	shares     map[string]*tenantShare
	lastChange time.Time // of an adaptive limit
}

// A store without spec.rateLimit gets an adaptive limit: it starts
// permissive, so a first sync is not held back by a guess, halves at a
// Throttled answer from the backend (at most once per adaptiveCooldown) and
// recovers by a quarter per adaptiveRecovery without one. Throttled answers
// are still backed off as before; this only keeps the next ones from coming.
const (
	AdaptiveMaxQPS   = 100
	AdaptiveMinQPS   = 1
	adaptiveCooldown = time.Second
	adaptiveRecovery = 30 * time.Second
)

type tenantShare struct {
	limiter  *rate.Limiter
	lastUsed time.Time
}

// rateOf is a store's rate limit; an adaptive one starts at its maximum.
func rateOf(spec *vfv1alpha1.RateLimit) (qps float64, burst int) {
	if spec == nil {
		return AdaptiveMaxQPS, AdaptiveMaxQPS
	}
	if spec.Burst < 1 {
		return float64(spec.QPS), int(spec.QPS)
	}
	return float64(spec.QPS), int(spec.Burst)
}

func newStoreLimiter(spec *vfv1alpha1.RateLimit, now func() time.Time) *storeLimiter {
	qps, burst := rateOf(spec)
	return &storeLimiter{spec: spec, qps: qps, burst: burst, total: rate.NewLimiter(rate.Limit(qps), burst), now: now, shares: map[string]*tenantShare{}}
}

// sameSpec reports whether l implements spec, so a store edit that changes
// the rate limit gets a new limiter and others keep their state.
func (l *storeLimiter) sameSpec(spec *vfv1alpha1.RateLimit) bool {
	if l.spec == nil || spec == nil {
		return l.spec == nil && spec == nil
	}
	return *l.spec == *spec
}

// observe adapts an adaptive limit to the class of a backend's answer.
func (l *storeLimiter) observe(class Class) {
	if l.spec != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	switch since := now.Sub(l.lastChange); {
	case class == ClassThrottled && since >= adaptiveCooldown && l.qps > AdaptiveMinQPS:
		l.setRate(max(AdaptiveMinQPS, l.qps/2), now)
	case class != ClassThrottled && since >= adaptiveRecovery && l.qps < AdaptiveMaxQPS:
		l.setRate(min(AdaptiveMaxQPS, l.qps*1.25), now)
	}
}

// setRate changes an adaptive limit; l.mu is held. The namespaces' shares
// follow at their next reservation.
func (l *storeLimiter) setRate(qps float64, now time.Time) {
	l.qps, l.burst, l.lastChange = qps, max(1, int(qps)), now
	l.total.SetLimitAt(now, rate.Limit(qps))
	l.total.SetBurstAt(now, l.burst)
}

// rate is the current limit, for tests and metrics.
func (l *storeLimiter) rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.qps
}

// reserve takes a token for tenant from its share and from the store's
// total, and returns how long to wait for them and how to give them back.
func (l *storeLimiter) reserve(tenant string) (time.Duration, func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	share := l.shares[tenant]
	if share == nil {
		share = &tenantShare{limiter: rate.NewLimiter(rate.Limit(l.qps), l.burst)}
		l.shares[tenant] = share
	}
	share.lastUsed = now
	for name, s := range l.shares {
		if now.Sub(s.lastUsed) > activeWindow {
			delete(l.shares, name)
		}
	}
	active := len(l.shares)
	for _, s := range l.shares {
		s.limiter.SetLimitAt(now, rate.Limit(l.qps/float64(active)))
		s.limiter.SetBurstAt(now, max(1, l.burst/active))
	}
	own, total := share.limiter.ReserveN(now, 1), l.total.ReserveN(now, 1)
	release := func() {
		own.CancelAt(now)
		total.CancelAt(now)
	}
	if !own.OK() || !total.OK() {
		return time.Duration(1<<63 - 1), release
	}
	return max(own.DelayFrom(now), total.DelayFrom(now)), release
}
