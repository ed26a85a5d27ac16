package providers_test

import (
	"errors"
	"testing"

	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/awssm"
	"github.com/vaultferry/vaultferry/providers/azurekv"
	"github.com/vaultferry/vaultferry/providers/vault"
)

// Each provider refuses, before any I/O, keys and versions its backend could
// read as another secret than written, and says how it compares names.
func TestNormalizeRef(t *testing.T) {
	cases := map[string]struct {
		provider providers.Provider
		foldCase bool
		ok       map[providers.Ref]providers.Ref // input → normalized
		refused  []providers.Ref
	}{
		"vault": {
			provider: vault.New(),
			ok: map[providers.Ref]providers.Ref{
				{Key: "apps/db", Version: "3"}: {Key: "apps/db", Version: "3"},
				{Key: "/apps/db/"}:             {Key: "apps/db"},
			},
			refused: []providers.Ref{{Key: "apps/db", Version: ".."}, {Key: "apps/db", Version: "-1"}, {Key: "apps/db", Version: "1?x=2"}, {Key: "/"}},
		},
		"aws": {
			provider: awssm.New(),
			ok: map[providers.Ref]providers.Ref{
				{Key: "tenants/a/db", Version: "AWSPREVIOUS"}: {Key: "tenants/a/db", Version: "AWSPREVIOUS"},
				{Key: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf", Version: "uuid:0f5c1a2b-1234-4abc-8def-0123456789ab"}: {
					Key: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf", Version: "uuid:0f5c1a2b-1234-4abc-8def-0123456789ab"},
			},
			refused: []providers.Ref{{Key: "db", Version: "a/b"}, {Key: "db?x"}, {Key: "db\x00"}, {Key: "d b"}, {Key: "db", Version: "stage with space"}},
		},
		"azurekv": {
			provider: azurekv.New(),
			foldCase: true,
			ok: map[providers.Ref]providers.Ref{
				{Key: "secret/db-password", Version: "0123456789abcdef0123456789ABCDEF"}: {Key: "db-password", Version: "0123456789abcdef0123456789ABCDEF"},
				{Key: "DB"}: {Key: "DB"},
			},
			refused: []providers.Ref{{Key: "db", Version: ".."}, {Key: "db", Version: "..%2f..%2fkeys"}, {Key: "db", Version: "1"},
				{Key: "db/../keys"}, {Key: "secret/"}, {Key: "db_password"}, {Key: "db%2F.."}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := tc.provider.KeysFoldCase(); got != tc.foldCase {
				t.Errorf("KeysFoldCase = %v", got)
			}
			for in, want := range tc.ok {
				got, err := tc.provider.NormalizeRef(in)
				if err != nil || got != want {
					t.Errorf("NormalizeRef(%+v) = %+v, %v; want %+v", in, got, err, want)
				}
			}
			for _, in := range tc.refused {
				if _, err := tc.provider.NormalizeRef(in); !errors.Is(err, providers.ErrInvalid) {
					t.Errorf("NormalizeRef(%+v) = %v, want ErrInvalid", in, err)
				}
			}
		})
	}
}
