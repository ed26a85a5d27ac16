package render

import (
	"context"
	"testing"
)

// BenchmarkRender renders a DSN and a dockerconfigjson: the per-sync cost
// of a typical template (go test -bench Render ./controllers/internal/render).
func BenchmarkRender(b *testing.B) {
	templates := map[string]string{
		"dsn":               "postgres://{{ .user }}:{{ .password | urlquery }}@db:5432/app",
		".dockerconfigjson": `{{ dict "auths" (dict "r.example.com" (dict "auth" (printf "%s:%s" .user .password | b64enc))) | toJson }}`,
	}
	data := map[string]any{"user": "app", "password": "s3cr3t"}
	for b.Loop() {
		if _, err := Render(context.Background(), templates, data, DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}
