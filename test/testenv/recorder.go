package testenv

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Recorder is an HTTP(S) server on 127.0.0.1 that records each request as
// "METHOD PATH BODY AUTHORIZATION" before respond answers it: what an
// endpoint was asked, and with which credentials.
type Recorder struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
}

// NewRecorder starts a Recorder (TLS with httptest's certificate when
// useTLS), closed when t ends.
func NewRecorder(t testing.TB, useTLS bool, respond http.HandlerFunc) *Recorder {
	rec := &Recorder{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.requests = append(rec.requests, r.Method+" "+r.URL.Path+" "+string(body)+" "+r.Header.Get("Authorization"))
		rec.mu.Unlock()
		respond(w, r)
	})
	if useTLS {
		rec.Server = httptest.NewTLSServer(handler)
	} else {
		rec.Server = httptest.NewServer(handler)
	}
	t.Cleanup(rec.Close)
	return rec
}

// Seen returns the requests recorded so far.
func (r *Recorder) Seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...)
}
