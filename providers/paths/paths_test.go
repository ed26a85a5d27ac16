package paths

import (
	"testing"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// Every variant of a path that could name something else than it spells is
// refused, never cleaned: dot segments, empty segments, escapes, case is
// left alone (Vault is case-sensitive), Unicode look-alikes, system backends
// at any depth.
func TestCheckDynamic(t *testing.T) {
	for path, ok := range map[string]bool{
		"database/creds/app":            true,
		"pki/issue/web":                 true,
		"team-a/database/creds/app_1":   true,
		"database/creds/sys":            true, // a role named sys, as the last segment
		"DATABASE/creds/app":            true, // another mount, as Vault reads it
		"secret/../sys/policy/pwn":      false,
		"./sys/policy/pwn":              false,
		"x/../auth/token/lookup-self":   false,
		"database/./creds/app":          false,
		"database//creds/app":           false,
		"/database/creds/app":           false,
		"database/creds/app/":           false,
		"secret/%2e%2e/sys/policy":      false,
		"secret/..%2fsys":               false,
		"secret\\..\\sys":               false,
		"secret\uff0f..\uff0fsys":       false, // full-width solidus
		"secret\u2215..\u2215sys":       false, // division slash
		"s\u0443s/policy":               false, // Cyrillic у
		"database/creds/app\u200b":      false, // zero-width space
		"database/creds/app\n":          false,
		"sys/policy/pwn":                false,
		"sys":                           false,
		"auth/token/lookup-self":        false,
		"identity/entity/name/x":        false,
		"cubbyhole/x":                   false,
		"ns1/sys/policy/pwn":            false, // a Vault Enterprise namespace's sys/
		"ns1/auth/token/create":         false,
		"database/creds/app?x=1":        false,
		"database/creds/app#frag":       false,
		"":                              false,
		"database/creds/" + long(600):   false,
		"database/creds/with space":     false,
		"database/creds/semi;colon":     false,
		"database/creds/quote\"":        false,
		"database/creds/app@v1:x=y+z~w": true,
	} {
		if err := CheckDynamic(path); (err == nil) != ok {
			t.Errorf("CheckDynamic(%q) = %v, want ok=%v", path, err, ok)
		}
	}
}

func long(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a'
	}
	return string(b)
}

func TestLeasePath(t *testing.T) {
	for id, want := range map[string]string{
		"database/creds/app/AbCd1234":       "database/creds/app",
		"pki/issue/web/1a:2b:3c":            "pki/issue/web",
		"database/creds/../../sys/x/y":      "",
		"sys/leases/lookup/x":               "",
		"auth/token/create/abcd":            "",
		"database/creds/app/":               "",
		"AbCd1234":                          "",
		"database/creds/app/Ab\u200bCd1234": "",
		"":                                  "",
	} {
		got, ok := LeasePath(id)
		if got != want || ok != (want != "") {
			t.Errorf("LeasePath(%q) = %q, %v; want %q", id, got, ok, want)
		}
	}
}

func TestGranted(t *testing.T) {
	grants := []vfv1alpha1.DynamicGrant{
		{Path: "database/creds/app", Methods: []vfv1alpha1.DynamicMethod{vfv1alpha1.DynamicRead}},
		{Path: "database/creds/team-a-*", Methods: []vfv1alpha1.DynamicMethod{vfv1alpha1.DynamicRead}},
		{Path: "pki/issue/*", Methods: []vfv1alpha1.DynamicMethod{vfv1alpha1.DynamicWrite}},
		{Path: "aws/**", Methods: []vfv1alpha1.DynamicMethod{vfv1alpha1.DynamicRead, vfv1alpha1.DynamicWrite}},
		{Path: "*/creds/x", Methods: []vfv1alpha1.DynamicMethod{vfv1alpha1.DynamicRead}}, // wildcard mount: matches nothing
		{Path: "sys/**", Methods: []vfv1alpha1.DynamicMethod{vfv1alpha1.DynamicWrite}},   // never matches
	}
	cases := []struct {
		path   string
		method vfv1alpha1.DynamicMethod
		want   bool
	}{
		{"database/creds/app", vfv1alpha1.DynamicRead, true},
		{"database/creds/app", vfv1alpha1.DynamicWrite, false}, // Write is never implied by Read
		{"database/creds/team-a-ro", vfv1alpha1.DynamicRead, true},
		{"database/creds/team-b-ro", vfv1alpha1.DynamicRead, false},
		{"database/creds/team-a-ro/x", vfv1alpha1.DynamicRead, false}, // * stays in its segment
		{"pki/issue/web", vfv1alpha1.DynamicWrite, true},
		{"pki/issue/web", vfv1alpha1.DynamicRead, false},
		{"aws/creds/deploy", vfv1alpha1.DynamicWrite, true},
		{"aws/sts/deploy", vfv1alpha1.DynamicRead, true},
		{"other/creds/x", vfv1alpha1.DynamicRead, false},
		{"sys/policy/x", vfv1alpha1.DynamicWrite, false},
		{"secret/data/tenants/team-b/db", vfv1alpha1.DynamicWrite, false},
		{"kv1/tenants/team-b/db", vfv1alpha1.DynamicWrite, false},
	}
	for _, tc := range cases {
		if got := Granted(grants, tc.path, tc.method); got != tc.want {
			t.Errorf("Granted(%q, %s) = %v, want %v", tc.path, tc.method, got, tc.want)
		}
	}
	if !GrantedAnyMethod(grants, "pki/issue/web") || !GrantedAnyMethod(grants, "database/creds/app") || GrantedAnyMethod(grants, "other/creds/x") {
		t.Error("GrantedAnyMethod disagrees with Granted")
	}
	if Granted(nil, "database/creds/app", vfv1alpha1.DynamicRead) {
		t.Error("no grants granted a path")
	}
}

func TestCleanKey(t *testing.T) {
	for key, ok := range map[string]bool{
		"tenants/team-a/db":        true,
		"tenants/team-a/Db":        true,
		"tenants/t\u00e9am/db":     true, // NFC and NFKC normal
		"tenants/te\u0301am/db":    false,
		"tenants/team-a/../b":      false,
		"tenants/./b":              false,
		"tenants//b":               false,
		"tenants/b/":               false,
		"tenants/%2e%2e/b":         false,
		"tenants\\b":               false,
		"tenants\uff0fb":           false,
		"tenants/\u202eb":          false, // right-to-left override
		"tenants/b\u00ad":          false, // soft hyphen
		"tenants/b\x00":            false,
		"tenants/b\x85":            false,
		string([]byte{0xff, 'a'}):  false,
		"\u212aey":                 false, // Kelvin sign, NFKC is K
		"":                         false,
		"arn:aws:secretsmanager:x": true,
	} {
		if got := CleanKey(key); got != ok {
			t.Errorf("CleanKey(%q) = %v, want %v", key, got, ok)
		}
	}
}
