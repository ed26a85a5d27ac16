package externalsecret

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/template"
)

// templateFuncs is the documented function set of target.template.data. The
// functions' errors never quote their input: it is secret.
//
//	b64enc, b64dec   base64 (standard encoding) of a string
//	toJson, fromJson JSON encoding of any value / decoding of a string
//	upper, lower     case mapping
//	trim             strip leading and trailing white space
//	default          {{ .x | default "fallback" }}: fallback when x is empty
var templateFuncs = template.FuncMap{
	"b64enc": func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"b64dec": func(s string) (string, error) {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return "", errors.New("b64dec: input is not valid base64")
		}
		return string(b), nil
	},
	"toJson": func(v any) (string, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return "", errors.New("toJson: value cannot be encoded as JSON")
		}
		return string(b), nil
	},
	"fromJson": func(s string) (any, error) {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, errors.New("fromJson: input is not valid JSON")
		}
		return v, nil
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"trim":  strings.TrimSpace,
	"default": func(fallback string, v any) any {
		if v == nil {
			return fallback
		}
		if s, ok := v.(string); ok && s == "" {
			return fallback
		}
		return v
	},
}

// renderTemplates executes each template with the fetched values as its data
// ({{ .password }}). A reference to a key that was not fetched is an error.
func renderTemplates(templates map[string]string, values map[string][]byte) (map[string][]byte, error) {
	vars := make(map[string]string, len(values))
	for k, v := range values {
		vars[k] = string(v)
	}
	out := make(map[string][]byte, len(templates))
	for key, text := range templates {
		tmpl, err := template.New(key).Option("missingkey=error").Funcs(templateFuncs).Parse(text)
		if err != nil {
			return nil, fmt.Errorf("template for key %q: %w", key, err)
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, vars); err != nil {
			return nil, fmt.Errorf("template for key %q: %w", key, err)
		}
		out[key] = buf.Bytes()
	}
	return out, nil
}
