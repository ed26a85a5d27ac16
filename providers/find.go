package providers

import (
	"context"
	"errors"
	"sort"
	"sync"
)

// MayDescend applies Descend, when set.
func (r FindRequest) MayDescend(folder string) bool { return r.Descend == nil || r.Descend(folder) }

// Collector gathers the keys a find keeps while a provider lists, and
// enforces the find's bounds as it goes.
type Collector struct {
	req    FindRequest
	listed int
	kept   []string
	seen   map[string]bool
}

// NewCollector starts collecting for req.
func (r FindRequest) NewCollector() *Collector { return &Collector{req: r, seen: map[string]bool{}} }

// Listed counts one listed entry (a key or a folder); more than MaxListed is ErrTooMany.
func (c *Collector) Listed() error {
	c.listed++
	if c.listed > MaxListed {
		return Errorf(ErrTooMany, "more than %d entries are listed under find.path %q: narrow find.path", MaxListed, c.req.Path)
	}
	return nil
}

// Add offers a listed key: kept when req.Keep keeps it. More kept keys than
// req.MaxKeys is ErrTooMany. The error never names a key.
func (c *Collector) Add(key string) error {
	if c.seen[key] || (c.req.Keep != nil && !c.req.Keep(key)) {
		return nil
	}
	c.seen[key] = true
	c.kept = append(c.kept, key)
	if len(c.kept) > c.req.MaxKeys {
		return Errorf(ErrTooMany, "find matched more than %d keys (find.maxKeys): narrow find.path, find.name or find.tags, or raise find.maxKeys", c.req.MaxKeys)
	}
	return nil
}

// Keys are the kept keys, sorted.
func (c *Collector) Keys() []string {
	sort.Strings(c.kept)
	return c.kept
}

// findParallelism bounds the reads one find makes at once.
const findParallelism = 8

// ReadEach reads every key with read (a value, or what a find filters on),
// a few at a time, running
// req.BeforeCall before each read. A key deleted between the listing and
// its read is left out; any other failure fails the find.
func ReadEach[T any](ctx context.Context, req FindRequest, keys []string, read func(ctx context.Context, key string) (T, error)) (map[string]T, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		out   = make(map[string]T, len(keys))
		first error
		wg    sync.WaitGroup
		slots = make(chan struct{}, findParallelism)
	)
	for _, key := range keys {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			err := req.Call(ctx)
			var v T
			if err == nil {
				v, err = read(ctx, key)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				out[key] = v
			case errors.Is(err, ErrNotFound):
			case first == nil:
				first = err
				cancel()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, nil
}

// HasTags reports whether have carries every tag in want.
func HasTags(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}
