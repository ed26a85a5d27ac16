package awssm

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/vaultferry/vaultferry/providers"
)

// AWS bills Secrets Manager per call. Reads of the latest value of different
// secrets through one store that arrive together (an initial sync, a refresh
// wave) go out as one BatchGetSecretValue of up to 20 secrets instead of one
// GetSecretValue each. Reads of a pinned version or stage cannot be batched.
// batchWait is how long the first read of a batch waits for others (a
// variable only so that tests can give a loaded machine more time).
var batchWait = 10 * time.Millisecond

const (
	// batchMax is the most secrets BatchGetSecretValue takes by id.
	batchMax = 20
	// batchTimeout bounds one batch call, which serves several callers.
	batchTimeout = 30 * time.Second
)

// batcher gathers reads into batches.
type batcher struct {
	sm secretsManagerAPI

	mu   sync.Mutex
	open *batch
	// unsupported is set once the caller was refused BatchGetSecretValue
	// (its IAM policy may allow only GetSecretValue): reads go one by one.
	unsupported atomic.Bool
}

// batch is one BatchGetSecretValue call and the reads waiting for it.
type batch struct {
	send    sync.Once
	ids     []string
	done    chan struct{}
	results map[string]batchResult // by requested id
	err     error                  // the whole call failed
}

type batchResult struct {
	out *secretsmanager.GetSecretValueOutput
	err error
}

// get returns the latest value of id through a batch; ok is false when the
// read must go on its own (batching refused, or id not in the answer).
func (b *batcher) get(ctx context.Context, id string) (out *secretsmanager.GetSecretValueOutput, ok bool, err error) {
	if b.unsupported.Load() {
		return nil, false, nil
	}
	bt := b.join(id)
	select {
	case <-bt.done:
	case <-ctx.Done():
		return nil, true, ctx.Err()
	}
	if bt.err != nil {
		if errors.Is(classify(bt.err, "batch"), providers.ErrForbidden) {
			b.unsupported.Store(true)
			return nil, false, nil
		}
		return nil, true, bt.err
	}
	r, found := bt.results[id]
	if !found {
		return nil, false, nil
	}
	return r.out, true, r.err
}

// join adds id to the open batch, opening one (flushed after batchWait) if
// there is none, and flushes it at once when it is full.
func (b *batcher) join(id string) *batch {
	b.mu.Lock()
	defer b.mu.Unlock()
	bt := b.open
	if bt == nil {
		bt = &batch{done: make(chan struct{}), results: map[string]batchResult{}}
		b.open = bt
		time.AfterFunc(batchWait, func() { b.flush(bt) })
	}
	for _, existing := range bt.ids {
		if existing == id {
			return bt
		}
	}
	bt.ids = append(bt.ids, id)
	if len(bt.ids) == batchMax {
		b.open = nil
		go b.flush(bt)
	}
	return bt
}

// flush sends bt once, whichever of the timer and a full batch comes first.
func (b *batcher) flush(bt *batch) {
	b.mu.Lock()
	if b.open == bt {
		b.open = nil
	}
	b.mu.Unlock()
	bt.send.Do(func() { b.call(bt) })
}

// call makes bt's BatchGetSecretValue call and hands out the answers.
func (b *batcher) call(bt *batch) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	res, err := b.sm.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: bt.ids})
	if err != nil {
		bt.err = err
		close(bt.done)
		return
	}
	for _, v := range res.SecretValues {
		for _, id := range bt.ids {
			if id == aws.ToString(v.Name) || id == aws.ToString(v.ARN) {
				bt.results[id] = batchResult{out: &secretsmanager.GetSecretValueOutput{
					ARN: v.ARN, Name: v.Name, SecretBinary: v.SecretBinary, SecretString: v.SecretString, VersionId: v.VersionId,
				}}
			}
		}
	}
	for _, e := range res.Errors {
		id := aws.ToString(e.SecretId)
		bt.results[id] = batchResult{err: &smithy.GenericAPIError{Code: aws.ToString(e.ErrorCode), Message: "in BatchGetSecretValue"}}
	}
	close(bt.done)
}
