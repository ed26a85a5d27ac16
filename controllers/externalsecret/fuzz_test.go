package externalsecret

import (
	"strings"
	"testing"
)

// The template renderer never panics, and its errors never quote the value
// it was given (values are secret).
func FuzzRenderTemplates(f *testing.F) {
	f.Add("{{ .password }}", "hunter2-secret")
	f.Add("{{ .password | b64dec }}", "not-base64!!-secret")
	f.Add("{{ (.password | fromJson).a }}", `{"a":"secret-json"}`)
	f.Add("{{ .password | fromJson }}", "{broken-secret")
	f.Fuzz(func(t *testing.T, tmpl, value string) {
		out, err := renderTemplates(map[string]string{"k": tmpl}, map[string][]byte{"password": []byte(value)})
		if err == nil {
			_ = out["k"]
			return
		}
		if len(value) >= 8 && !strings.Contains(tmpl, value) && strings.Contains(err.Error(), value) {
			t.Fatalf("error quotes the value: %v", err)
		}
	})
}
