package externalsecret

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/tenancy"
	"github.com/vaultferry/vaultferry/providers/fake"
)

func TestRenameKeys(t *testing.T) {
	re := func(source, target string) vfv1alpha1.ExternalSecretRewrite {
		return vfv1alpha1.ExternalSecretRewrite{Regexp: &vfv1alpha1.RewriteRegexp{Source: source, Target: target}}
	}
	tmpl := func(text string) vfv1alpha1.ExternalSecretRewrite {
		return vfv1alpha1.ExternalSecretRewrite{Transform: &vfv1alpha1.RewriteTransform{Template: text}}
	}
	found := map[string][]byte{"app/prod/db-password": []byte("1"), "app/prod/api.token": []byte("2")}
	cases := []struct {
		name    string
		in      map[string][]byte
		steps   []vfv1alpha1.ExternalSecretRewrite
		convert bool
		want    []string
		err     string
	}{
		{name: "default conversion", in: found, convert: true, want: []string{"app_prod_api.token", "app_prod_db-password"}},
		{name: "unicode is converted too", in: map[string][]byte{"clé/ü": nil}, convert: true, want: []string{"cl___"}},
		{name: "no conversion for extract", in: map[string][]byte{"user": nil}, want: []string{"user"}},
		{name: "regexp with a group", in: found, steps: []vfv1alpha1.ExternalSecretRewrite{re(`^app/[^/]+/(.*)$`, "$1")}, convert: true,
			want: []string{"api.token", "db-password"}},
		{name: "steps in order", in: found, steps: []vfv1alpha1.ExternalSecretRewrite{re(`^app/prod/`, ""), tmpl(`{{ .value | upper | replace "-" "_" }}`)},
			convert: true, want: []string{"API.TOKEN", "DB_PASSWORD"}},
		{name: "named group", in: found, steps: []vfv1alpha1.ExternalSecretRewrite{re(`^app/(?P<env>[^/]+)/(?P<k>.*)$`, "${k}.${env}")},
			want: []string{"api.token.prod", "db-password.prod"}},
		{name: "a collision names both remote keys", in: found, steps: []vfv1alpha1.ExternalSecretRewrite{re(`.*`, "same")},
			err: `remote key "app/prod/api.token" and remote key "app/prod/db-password" both become Secret key "same"`},
		{name: "the default conversion can collide", in: map[string][]byte{"a/b": nil, "a_b": nil}, convert: true,
			err: `both become Secret key "a_b"`},
		{name: "rewrite leaves a slash", in: found, steps: []vfv1alpha1.ExternalSecretRewrite{re(`^app/`, "")},
			err: `becomes Secret key "prod/api.token", which is not valid`},
		{name: "rewrite to empty", in: found, steps: []vfv1alpha1.ExternalSecretRewrite{re(`.*`, "")}, err: `becomes Secret key "", which is not valid`},
		{name: "bad regexp", in: found, steps: []vfv1alpha1.ExternalSecretRewrite{re(`(`, "")}, err: "rewrite[0].regexp.source does not compile"},
		{name: "refused template function", in: found, steps: []vfv1alpha1.ExternalSecretRewrite{tmpl(`{{ env "HOME" }}`)}, err: `function "env" is not available`},
		{name: "template output is bounded", in: found, steps: []vfv1alpha1.ExternalSecretRewrite{tmpl(`{{ range $i := until 5000 }}xxxxxxxxxx{{ end }}`)},
			err: "rewrite[0].transform"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := renameKeys(context.Background(), tc.in, tc.steps, tc.convert, func(k string) string { return fmt.Sprintf("remote key %q", k) })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, tc.want) {
				t.Fatalf("keys = %q, want %q", keys, tc.want)
			}
		})
	}
}

// A find's filters are the tenancy check of a single key, applied to every
// listed key: unclean keys, keys another backend would read differently,
// keys outside allowedKeys and keys the name pattern does not match are
// never kept, and folders no allowed key can be in are never listed.
func TestFindRequestKeepsOnlyWhatTheNamespaceMayRead(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	admission, _, err := tenancy.Admit(&vfv1alpha1.SecretStoreSpec{Conditions: []vfv1alpha1.ClusterSecretStoreCondition{{Namespaces: []string{"team-a"}, AllowedKeys: []string{"tenants/{namespace}/**"}}}}, ns)
	if err != nil {
		t.Fatal(err)
	}
	store := &resolvedStore{store: &vfv1alpha1.ClusterSecretStore{}, provider: fake.New(), allowedKeys: admission.Keys}
	path := "tenants/"
	req, err := store.findRequest(&vfv1alpha1.ExternalSecretFind{Path: &path, Name: &vfv1alpha1.FindName{RegExp: "db|api"}}, "team-a")
	if err != nil {
		t.Fatal(err)
	}
	if req.MaxKeys != defaultMaxKeys {
		t.Errorf("maxKeys %d, want the default %d", req.MaxKeys, defaultMaxKeys)
	}
	for key, keep := range map[string]bool{
		"tenants/team-a/db": true, "tenants/team-a/deep/api": true,
		"tenants/team-a/cache":        false, // name pattern
		"tenants/team-b/db":           false, // another tenant
		"TENANTS/team-a/db":           false, // another key on a case-sensitive backend
		"tenants/team-a/../team-b/db": false,
		"tenants/team-a/./db":         false,
		"tenants/team-a//db":          false,
		"tenants/team-a/%2e%2e/db":    false,
		"tenants/team-a/db\n":         false,
	} {
		if got := req.Keep(key); got != keep {
			t.Errorf("Keep(%q) = %v, want %v", key, got, keep)
		}
	}
	for folder, descend := range map[string]bool{"tenants": true, "tenants/team-a": true, "tenants/team-b": false, "other": false} {
		if got := req.Descend(folder); got != descend {
			t.Errorf("Descend(%q) = %v, want %v", folder, got, descend)
		}
	}
	for _, bad := range []string{"tenants/../x", "tenants//x", "a/%2e%2e"} {
		if _, err := store.findRequest(&vfv1alpha1.ExternalSecretFind{Path: &bad}, "team-a"); err == nil || !strings.Contains(err.Error(), "is not a clean path") {
			t.Errorf("find.path %q: %v", bad, err)
		}
	}
	if _, err := store.findRequest(&vfv1alpha1.ExternalSecretFind{Name: &vfv1alpha1.FindName{RegExp: "("}}, "team-a"); err == nil || !strings.Contains(err.Error(), "find.name.regexp does not compile") {
		t.Errorf("bad regexp: %v", err)
	}
}
