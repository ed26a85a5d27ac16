package providers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Property returns the field at a dotted path of a JSON object value. A string
// field is returned as its bytes; any other field as compact JSON. A path
// segment that is itself a key containing dots can be reached when the whole
// remaining path is a key: {"a.b": 1} with path "a.b" returns 1.
func Property(value []byte, path string) ([]byte, error) {
	var doc any
	if err := decodeJSON(value, &doc); err != nil {
		return nil, Errorf(ErrInvalid, "property %q requested but the value is not JSON", path)
	}
	field, ok := lookup(doc, path)
	if !ok {
		return nil, Errorf(ErrNotFound, "property %q not found in the value", path)
	}
	return fieldBytes(field)
}

// Fields splits a JSON object value into its top-level fields, as Property
// would return each of them.
func Fields(value []byte) (map[string][]byte, error) {
	var obj map[string]any
	if err := decodeJSON(value, &obj); err != nil || obj == nil {
		return nil, Errorf(ErrInvalid, "dataFrom.extract needs a JSON object value")
	}
	out := make(map[string][]byte, len(obj))
	for k, v := range obj {
		b, err := fieldBytes(v)
		if err != nil {
			return nil, err
		}
		out[k] = b
	}
	return out, nil
}

// SortedKeys returns the keys of m in order, for deterministic output.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func decodeJSON(value []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber() // keep 12345678901234567890 as written
	if err := dec.Decode(into); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}

func lookup(doc any, path string) (any, bool) {
	if path == "" {
		return nil, false
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, false
	}
	if v, ok := obj[path]; ok {
		return v, true
	}
	head, rest, found := strings.Cut(path, ".")
	if !found {
		return nil, false
	}
	next, ok := obj[head]
	if !ok {
		return nil, false
	}
	return lookup(next, rest)
}

func fieldBytes(v any) ([]byte, error) {
	switch t := v.(type) {
	case string:
		return []byte(t), nil
	case json.Number:
		return []byte(t.String()), nil
	default:
		b, err := json.Marshal(t)
		if err != nil {
			return nil, Errorf(ErrInvalid, "field cannot be encoded as JSON")
		}
		return b, nil
	}
}
