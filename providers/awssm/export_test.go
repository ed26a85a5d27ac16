package awssm

import "time"

// SetBatchWait sets how long a batch waits for more reads, until the test ends.
func SetBatchWait(t interface{ Cleanup(func()) }, d time.Duration) {
	before := batchWait
	batchWait = d
	t.Cleanup(func() { batchWait = before })
}
