package providers

import (
	"errors"
	"io"
	"net/http"
)

// MaxResponseBytes bounds the body of one response from a backend. A
// Secret holds at most 1 MiB, and the largest legitimate answer (a listing
// of MaxListed keys) is a few MiB: a store endpoint that answers gigabytes,
// or a JSON document nested without end, must not take the operator's
// memory from every other tenant.
const MaxResponseBytes = 16 << 20

// ErrResponseTooLarge ends the body of a response over MaxResponseBytes.
var ErrResponseTooLarge = errors.New("the backend's response is larger than 16 MiB")

// Doer sends one HTTP request: the shape of the AWS SDK's HTTPClient and of
// azcore's policy.Transporter.
type Doer interface {
	Do(req *http.Request) (*http.Response, error)
}

// BoundedDoer is a Doer whose response bodies end with ErrResponseTooLarge
// past MaxResponseBytes.
type BoundedDoer struct{ Doer }

// Do sends req and bounds the response body.
func (b BoundedDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := b.Doer.Do(req)
	BoundBody(resp)
	return resp, err
}

// BoundBody makes resp's body, if any, end with ErrResponseTooLarge past
// MaxResponseBytes.
func BoundBody(resp *http.Response) {
	if resp != nil && resp.Body != nil {
		resp.Body = &boundedBody{ReadCloser: resp.Body, left: MaxResponseBytes}
	}
}

type boundedBody struct {
	io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a larger one.
		var one [1]byte
		if n, _ := b.ReadCloser.Read(one[:]); n > 0 {
			return 0, ErrResponseTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
