package secretstore

import (
	"context"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/vaultferry/vaultferry/providers"
)

// credentialWatch watches, one by name, the Secrets and ConfigMaps that
// stores read credentials from, and wakes those stores when one is created,
// changed or deleted: a store whose login failed for a missing credential
// recovers as soon as it exists, and one whose credential is deleted or
// broken says so at once rather than at its next recheck. Each watch is a
// metadata-only informer restricted to one name, so the operator caches no
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
	for _, obj := range w.byStore[store] {
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
	for obj, ow := range w.watches {
		if ow.stores.Len() == 0 {
			if ow.cancel != nil {
				ow.cancel()
			}
			delete(w.watches, obj)
		}
	}
}

// startLocked starts the informer of one object, once the manager runs.
func (w *credentialWatch) startLocked(obj providers.CredentialObject, ow *objectWatch) {
	if w.ctx == nil || ow.cancel != nil {
		return
	}
	resource := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	if obj.ConfigMap {
		resource.Resource = "configmaps"
	}
	byName := func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", obj.Key.Name).String()
	}
	informer := metadatainformer.NewFilteredMetadataInformer(w.meta, resource, obj.Key.Namespace, 0, cache.Indexers{}, byName).Informer()
	wake := func() { w.wake(obj) }
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    func(_ any, initialList bool) { wakeUnless(initialList, wake) },
		UpdateFunc: func(any, any) { wake() },
		DeleteFunc: func(any) { wake() },
	})
	ctx, cancel := context.WithCancel(w.ctx)
	ow.cancel = cancel
	go informer.RunWithContext(ctx)
}

// wakeUnless calls wake unless the object was only found by the informer's
// first list: the store was just validated with it.
func wakeUnless(initialList bool, wake func()) {
	if !initialList {
		wake()
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
