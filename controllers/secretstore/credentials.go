package secretstore

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/vaultferry/vaultferry/providers"
)

// credentialWatch watches, one by name, the Secrets and ConfigMaps that
// stores read credentials from, and wakes those stores when one is created,
// changed or deleted: a store whose login failed for a missing credential
// recovers as soon as it exists, and one whose credential is deleted or
// broken says so at once rather than at its next recheck. Each is a
// metadata-only watch restricted to one name, so the operator caches no
// Secret data and nothing about unrelated Secrets.
type credentialWatch struct {
	meta metadata.Interface
	// events wakes the store controller (a source.Channel).
	events chan event.GenericEvent

	mu      sync.Mutex
	ctx     context.Context // the manager's, once started
	watches map[providers.CredentialObject]*objectWatch
	byStore map[client.ObjectKey][]providers.CredentialObject
}

type objectWatch struct {
	stores sets.Set[client.ObjectKey]
	cancel context.CancelFunc // nil until started
}

func newCredentialWatch(meta metadata.Interface) *credentialWatch {
	return &credentialWatch{meta: meta, events: make(chan event.GenericEvent, 1024),
		watches: map[providers.CredentialObject]*objectWatch{}, byStore: map[client.ObjectKey][]providers.CredentialObject{}}
}

// Start runs the watches until ctx ends (a manager Runnable).
func (w *credentialWatch) Start(ctx context.Context) error {
	w.mu.Lock()
	w.ctx = ctx
	for obj, ow := range w.watches {
		w.startLocked(obj, ow)
	}
	w.mu.Unlock()
	<-ctx.Done()
	return nil
}

// track records that store reads objects: watches start for new objects
// and stop for objects no store reads any more. nil forgets the store.
func (w *credentialWatch) track(store client.ObjectKey, objects []providers.CredentialObject) {
	w.mu.Lock()
	defer w.mu.Unlock()
	previous := w.byStore[store]
	for _, obj := range previous {
		if ow := w.watches[obj]; ow != nil {
			ow.stores.Delete(store)
		}
	}
	w.byStore[store] = objects
	if objects == nil {
		delete(w.byStore, store)
	}
	for _, obj := range objects {
		ow := w.watches[obj]
		if ow == nil {
			ow = &objectWatch{stores: sets.New[client.ObjectKey]()}
			w.watches[obj] = ow
			w.startLocked(obj, ow)
		}
		ow.stores.Insert(store)
	}
	// Only objects this store read before can have lost their last reader.
	for _, obj := range previous {
		if ow := w.watches[obj]; ow != nil && ow.stores.Len() == 0 {
			if ow.cancel != nil {
				ow.cancel()
			}
			delete(w.watches, obj)
		}
	}
}

// startLocked starts following one object, once the manager runs.
func (w *credentialWatch) startLocked(obj providers.CredentialObject, ow *objectWatch) {
	if w.ctx == nil || ow.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(w.ctx)
	ow.cancel = cancel
	go w.follow(ctx, obj)
}

// follow watches one object by name, metadata only, until ctx ends and wakes
// its stores on every change after the first listing. A plain watch stream
// (no informer: no cache, no queue) keeps a watched credential at a
// goroutine and a stream.
func (w *credentialWatch) follow(ctx context.Context, obj providers.CredentialObject) {
	resource := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	if obj.ConfigMap {
		resource.Resource = "configmaps"
	}
	client := w.meta.Resource(resource).Namespace(obj.Key.Namespace)
	byName := fields.OneTermEqualSelector("metadata.name", obj.Key.Name).String()
	watcher := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		o.FieldSelector = byName
		return client.Watch(ctx, o)
	}}
	backoff := wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.5, Steps: 8, Cap: time.Minute}
	for first := true; ctx.Err() == nil; first = false {
		list, err := client.List(ctx, metav1.ListOptions{FieldSelector: byName})
		if err == nil {
			var rw *watchtools.RetryWatcher
			if rw, err = watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, watcher); err == nil {
				if !first { // the watch was lost: the object may have changed meanwhile
					w.wake(obj)
				}
				for ev := range rw.ResultChan() {
					if ev.Type == watch.Added || ev.Type == watch.Modified || ev.Type == watch.Deleted {
						w.wake(obj)
					}
				}
				backoff = wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.5, Steps: 8, Cap: time.Minute}
			}
		}
		select { // listing failed, or the watch ended (its resourceVersion expired)
		case <-ctx.Done():
		case <-time.After(backoff.Step()):
		}
	}
}

// wake enqueues every store that reads obj.
func (w *credentialWatch) wake(obj providers.CredentialObject) {
	w.mu.Lock()
	var stores []client.ObjectKey
	if ow := w.watches[obj]; ow != nil {
		stores = ow.stores.UnsortedList()
	}
	w.mu.Unlock()
	for _, s := range stores {
		w.events <- event.GenericEvent{Object: &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name}}}
	}
}
