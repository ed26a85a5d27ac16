package providers

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
)

func TestBoundBody(t *testing.T) {
	for size, wantErr := range map[int]bool{0: false, 1000: false, MaxResponseBytes: false, MaxResponseBytes + 1: true, 3 * MaxResponseBytes: true} {
		resp := &http.Response{Body: io.NopCloser(bytes.NewReader(make([]byte, size)))}
		BoundBody(resp)
		got, err := io.ReadAll(resp.Body)
		if errors.Is(err, ErrResponseTooLarge) != wantErr || len(got) > MaxResponseBytes {
			t.Errorf("a body of %d bytes: read %d, %v", size, len(got), err)
		}
	}
	BoundBody(nil) // no response: nothing to bound
}
