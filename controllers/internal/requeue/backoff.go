package requeue

import (
	"math/rand/v2"
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Backoff bounds for failed reconciles: quick first retries, at most every
// 5 minutes.
const (
	BackoffBase = time.Second
	BackoffMax  = 5 * time.Minute
)

// Backoff is the retry policy for failed reconciles: per-item exponential
// backoff from BackoffBase to BackoffMax, each delay drawn uniformly from the
// upper half of its step ("equal jitter"). Without the jitter, every
// ExternalSecret throttled by one vault at the same moment would retry at the
// same moment and be throttled again together.
func Backoff() workqueue.TypedRateLimiter[reconcile.Request] {
	return JitteredBackoff[reconcile.Request](BackoffBase, BackoffMax)
}

// JitteredBackoff is Backoff with other bounds and item type.
func JitteredBackoff[T comparable](base, maxDelay time.Duration) workqueue.TypedRateLimiter[T] {
	return &jittered[T]{exponential: workqueue.NewTypedItemExponentialFailureRateLimiter[T](base, maxDelay)}
}

type jittered[T comparable] struct {
	exponential workqueue.TypedRateLimiter[T]
}

func (j *jittered[T]) When(item T) time.Duration {
	step := j.exponential.When(item)
	half := step / 2
	return half + time.Duration(rand.Int64N(int64(step-half)+1))
}

func (j *jittered[T]) Forget(item T) { j.exponential.Forget(item) }

func (j *jittered[T]) NumRequeues(item T) int { return j.exponential.NumRequeues(item) }
