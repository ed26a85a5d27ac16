package tenancy

import (
	"testing"
	"unicode"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers/paths"
)

func TestAdmit(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"tier": "gold"}}}
	tenantKeys := []vfv1alpha1.ClusterSecretStoreCondition{{Namespaces: []string{"team-a"}, AllowedKeys: []string{"tenants/{namespace}/*", "shared/**"}}}
	outside := []string{"tenants/team-b/db", "tenants/team-a/x/y", "other", "tenants/team-a/../team-b/x", "tenants//team-b/x",
		"tenants/team-a/%2e%2e/team-b", "tenants/%74eam-a/x", "tenants/team-a/./db", "shared/..", "tenants\\team-a\\db", "tenants/team-a/",
		"tenants/team-a/db\n", "tenants/team-a/\x00"}
	cases := map[string]struct {
		conditions []vfv1alpha1.ClusterSecretStoreCondition
		foldCase   bool
		admitted   bool
		allowed    []string
		denied     []string
	}{
		"no conditions admit everyone to every key": {nil, false, true, []string{"anything", "TENANTS/x"}, nil},
		"listed by name": {[]vfv1alpha1.ClusterSecretStoreCondition{{Namespaces: []string{"team-a"}}}, false, true, []string{"any/key"}, nil},
		"not listed":     {[]vfv1alpha1.ClusterSecretStoreCondition{{Namespaces: []string{"team-b"}}}, false, false, nil, nil},
		"by label selector": {[]vfv1alpha1.ClusterSecretStoreCondition{{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{"tier": "gold"}}}}, false, true, nil, nil},
		"by anchored regex":           {[]vfv1alpha1.ClusterSecretStoreCondition{{NamespaceRegexes: []string{"team-.*"}}}, false, true, nil, nil},
		"a regex must match the name": {[]vfv1alpha1.ClusterSecretStoreCondition{{NamespaceRegexes: []string{"team"}}}, false, false, nil, nil},
		"allowedKeys on a case-sensitive backend (Vault, AWS)": {tenantKeys, false, true,
			[]string{"tenants/team-a/db", "shared/x/y"},
			append([]string{"TENANTS/TEAM-A/db", "Tenants/team-a/db", "SHARED/x"}, outside...)},
		"allowedKeys on a case-folding backend (Azure Key Vault)": {tenantKeys, true, true,
			[]string{"tenants/team-a/db", "TENANTS/TEAM-A/db", "Shared/x"},
			outside},
		"a condition without allowedKeys allows every key": {append([]vfv1alpha1.ClusterSecretStoreCondition{{Namespaces: []string{"team-a"}}}, tenantKeys...), false, true,
			[]string{"tenants/team-b/db"}, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			admission, ok, err := Admit(&vfv1alpha1.SecretStoreSpec{Conditions: tc.conditions}, ns)
			keys := admission.Keys
			if err != nil || ok != tc.admitted {
				t.Fatalf("admitted = %v, %v; want %v", ok, err, tc.admitted)
			}
			for _, k := range tc.allowed {
				if !keys.Allows(k, tc.foldCase) {
					t.Errorf("key %q refused", k)
				}
			}
			for _, k := range tc.denied {
				if keys.Allows(k, tc.foldCase) {
					t.Errorf("key %q allowed", k)
				}
			}
		})
	}
}

// FuzzAllowedKeys checks the allowedKeys matcher against an independent,
// segment-aware glob matcher that compares characters the way the backend
// does: no key is admitted that the pattern does not cover under the
// backend's own comparison, and no unclean key is admitted at all.
func FuzzAllowedKeys(f *testing.F) {
	f.Add("tenants/{namespace}/*", "tenants/team-a/db", false)
	f.Add("tenants/{namespace}/*", "TENANTS/TEAM-A/db", false)
	f.Add("tenants/{namespace}/*", "TENANTS/TEAM-A/db", true)
	f.Add("shared/**", "shared/a/../../b", false)
	f.Add("a?c/*", "a/c/x", false)
	f.Add("k*", "\u212a", true) // Kelvin sign folds to k
	f.Fuzz(func(t *testing.T, pattern, key string, foldCase bool) {
		if !utf8.ValidString(pattern) || !utf8.ValidString(key) || len(pattern) > 24 || len(key) > 32 {
			return
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
		admission, _, err := Admit(&vfv1alpha1.SecretStoreSpec{Conditions: []vfv1alpha1.ClusterSecretStoreCondition{{Namespaces: []string{"team-a"}, AllowedKeys: []string{pattern}}}}, ns)
		keys := admission.Keys
		if err != nil {
			t.Fatal(err)
		}
		got := keys.Allows(key, foldCase)
		filled := []rune(replaceNamespace(pattern, "team-a"))
		want := paths.CleanKey(key) && globMatch(filled, []rune(key), foldCase)
		if got != want {
			t.Fatalf("pattern %q, key %q, foldCase %v: allowed = %v, want %v", pattern, key, foldCase, got, want)
		}
	})
}

func replaceNamespace(pattern, ns string) string {
	out := []rune{}
	for i := 0; i < len(pattern); {
		if len(pattern)-i >= len(NamespacePlaceholder) && pattern[i:i+len(NamespacePlaceholder)] == NamespacePlaceholder {
			out = append(out, []rune(ns)...)
			i += len(NamespacePlaceholder)
			continue
		}
		r, size := utf8.DecodeRuneInString(pattern[i:])
		out = append(out, r)
		i += size
	}
	return string(out)
}

// globMatch is the reference matcher: ** spans segments, * and ? stay
// within one, other characters compare equal (or fold equal).
func globMatch(pattern, key []rune, foldCase bool) bool {
	switch {
	case len(pattern) == 0:
		return len(key) == 0
	case len(pattern) >= 2 && pattern[0] == '*' && pattern[1] == '*':
		for i := 0; i <= len(key); i++ {
			if globMatch(pattern[2:], key[i:], foldCase) {
				return true
			}
		}
		return false
	case pattern[0] == '*':
		for i := 0; i <= len(key); i++ {
			if globMatch(pattern[1:], key[i:], foldCase) {
				return true
			}
			if i < len(key) && key[i] == '/' {
				return false
			}
		}
		return false
	case pattern[0] == '?':
		return len(key) > 0 && key[0] != '/' && globMatch(pattern[1:], key[1:], foldCase)
	default:
		return len(key) > 0 && sameRune(pattern[0], key[0], foldCase) && globMatch(pattern[1:], key[1:], foldCase)
	}
}

func sameRune(a, b rune, foldCase bool) bool {
	if a == b {
		return true
	}
	if !foldCase {
		return false
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// MayContain prunes a folder only when no allowed key can be inside it:
// every key below a folder it keeps or prunes is checked against Allows.
func TestMayContain(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	admission, _, err := Admit(&vfv1alpha1.SecretStoreSpec{Conditions: []vfv1alpha1.ClusterSecretStoreCondition{{Namespaces: []string{"team-a"},
		AllowedKeys: []string{"tenants/{namespace}/**", "shared/*/public", "apps/team-a-?/db"}}}}, ns)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		folder   string
		foldCase bool
		may      bool
		below    string // a key below folder, checked against Allows when may
	}{
		{"", false, true, "tenants/team-a/x"},
		{"tenants", false, true, "tenants/team-a/x"},
		{"tenants/team-a", false, true, "tenants/team-a/x"},
		{"tenants/team-a/deep/er", false, true, "tenants/team-a/deep/er/x"},
		{"tenants/team-b", false, false, ""},
		{"tenants/team-ab", false, false, ""},
		{"TENANTS/team-a", false, false, ""},
		{"TENANTS/team-a", true, true, "TENANTS/team-a/x"},
		{"shared/anything", false, true, "shared/anything/public"},
		{"apps", false, true, "apps/team-a-1/db"},
		{"apps/team-b-1", false, false, ""},
		{"other", false, false, ""},
	}
	for _, tc := range cases {
		if got := admission.Keys.MayContain(tc.folder, tc.foldCase); got != tc.may {
			t.Errorf("MayContain(%q, fold=%v) = %v, want %v", tc.folder, tc.foldCase, got, tc.may)
		}
		if tc.may && !admission.Keys.Allows(tc.below, tc.foldCase) {
			t.Errorf("the case for %q is wrong: %q is not allowed", tc.folder, tc.below)
		}
	}
	if !(KeyPolicy{}).MayContain("anything", false) {
		t.Error("a policy allowing every key pruned a folder")
	}
}

// Issuing credentials is granted per verb and never by omission: a store
// without spec.dynamic issues nothing; through a ClusterSecretStore the
// namespace's conditions must grant the path too ({namespace} filled in);
// Write is never implied by Read; allowedKeys do not grant dynamic paths.
func TestDynamicPolicy(t *testing.T) {
	read, write := vfv1alpha1.DynamicRead, vfv1alpha1.DynamicWrite
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	storeGrants := []vfv1alpha1.DynamicGrant{
		{Path: "database/creds/*", Methods: []vfv1alpha1.DynamicMethod{read}},
		{Path: "pki/issue/*", Methods: []vfv1alpha1.DynamicMethod{write}},
	}
	perNamespace := []vfv1alpha1.ClusterSecretStoreCondition{
		{Namespaces: []string{"team-a"}, AllowedKeys: []string{"**"},
			AllowedDynamic: []vfv1alpha1.DynamicGrant{{Path: "database/creds/{namespace}-*", Methods: []vfv1alpha1.DynamicMethod{read, write}}}},
		{Namespaces: []string{"team-b"}, AllowedDynamic: []vfv1alpha1.DynamicGrant{{Path: "pki/issue/*", Methods: []vfv1alpha1.DynamicMethod{write}}}},
	}
	type use struct {
		path   string
		method vfv1alpha1.DynamicMethod
	}
	cases := map[string]struct {
		policy  DynamicPolicy
		allowed []use
		denied  []use
	}{
		"a SecretStore without grants issues nothing": {ForSecretStore(&vfv1alpha1.SecretStoreSpec{}).Dynamic, nil,
			[]use{{"database/creds/app", read}, {"secret/data/x", write}}},
		"a SecretStore issues what it grants, with the granted method": {ForSecretStore(&vfv1alpha1.SecretStoreSpec{Dynamic: storeGrants}).Dynamic,
			[]use{{"database/creds/app", read}, {"pki/issue/web", write}},
			[]use{{"database/creds/app", write}, {"pki/issue/web", read}, {"kv1/tenants/team-b/db", write},
				{"database/creds/../../sys/policy/x", read}, {"sys/policy/x", write}}},
		"a ClusterSecretStore without conditions issues nothing to anyone": {admitted(t, &vfv1alpha1.SecretStoreSpec{Dynamic: storeGrants}, ns).Dynamic, nil,
			[]use{{"database/creds/app", read}, {"pki/issue/web", write}}},
		"a ClusterSecretStore issues what both the store and the namespace's condition grant": {
			admitted(t, &vfv1alpha1.SecretStoreSpec{Dynamic: storeGrants, Conditions: perNamespace}, ns).Dynamic,
			[]use{{"database/creds/team-a-ro", read}},
			[]use{{"database/creds/team-a-ro", write}, {"database/creds/team-b-ro", read}, {"database/creds/app", read}, {"pki/issue/web", write}}},
		"conditions cannot grant what the store does not": {
			admitted(t, &vfv1alpha1.SecretStoreSpec{Conditions: perNamespace}, ns).Dynamic, nil,
			[]use{{"database/creds/team-a-ro", read}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for _, u := range tc.allowed {
				if !tc.policy.Allows(u.path, u.method) {
					t.Errorf("%s %q refused", u.method, u.path)
				}
			}
			for _, u := range tc.denied {
				if tc.policy.Allows(u.path, u.method) {
					t.Errorf("%s %q allowed", u.method, u.path)
				}
			}
		})
	}
}

func admitted(t *testing.T, spec *vfv1alpha1.SecretStoreSpec, ns *corev1.Namespace) Admission {
	t.Helper()
	admission, ok, err := Admit(spec, ns)
	if err != nil || !ok {
		t.Fatalf("not admitted: %v", err)
	}
	return admission
}
