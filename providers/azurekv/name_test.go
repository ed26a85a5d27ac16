package azurekv

import (
	"strings"
	"testing"
)

func TestValidSecretName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"db-password", true},
		{"A1", true},
		{strings.Repeat("a", 127), true},
		{strings.Repeat("a", 128), false},
		{"", false},
		{"db_password", false},
		{"db/password", false},
		{"../other", false},
		{"pässword", false},
		{"db password", false},
	} {
		if got := validSecretName(tc.name); got != tc.want {
			t.Errorf("validSecretName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
