package providers

import (
	"strings"
	"testing"
)

// Property extraction never panics, and its errors never quote the document.
func FuzzProperty(f *testing.F) {
	f.Add([]byte(`{"a":{"b":"secret-value"}}`), "a.b")
	f.Add([]byte(`{"a.b":1}`), "a.b")
	f.Add([]byte(`not json secret-value`), "x")
	f.Add([]byte(`{"list":[1,2,3]}`), "list")
	f.Fuzz(func(t *testing.T, doc []byte, path string) {
		_, err := Property(doc, path)
		if err != nil && len(doc) >= 12 && !strings.Contains(path, string(doc)) && strings.Contains(err.Error(), string(doc)) {
			t.Fatalf("error quotes the document: %v", err)
		}
		if fields, err := Fields(doc); err == nil {
			for k := range fields {
				_ = k
			}
		}
	})
}
