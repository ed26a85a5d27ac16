// Package providertest is the conformance suite every provider passes: the
// fake now, and each real provider against its real server or wire-level fake.
package providertest

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync/atomic"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	clientfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// Harness adapts one provider and its backend to the suite.
type Harness struct {
	// Provider under test.
	Provider providers.Provider
	// Seed writes value under key in the backend, as a new version when the
	// key exists, and returns the version id the backend gave it ("" if none).
	// The suite seeds before it builds any client.
	Seed func(t *testing.T, key string, value []byte) string
	// Store returns a store with valid credentials for the seeded backend,
	// the Kube that serves its credentials, and the namespace refs resolve in.
	Store func(t *testing.T) (vfv1alpha1.GenericStore, providers.Kube, string)
	// BadCredentials returns the same store with credentials the backend refuses.
	BadCredentials func(t *testing.T) (vfv1alpha1.GenericStore, providers.Kube, string)
	// NoVersions is set when the backend has no version ids (pinned reads are skipped).
	NoVersions bool
	// Structured is set when the backend stores only key/value objects (Vault
	// KV): the plain-text case is then seeded as {"value": text} and read
	// back through that property.
	Structured bool
	// Folders is set when the backend nests keys in folders (Vault): found
	// keys are then seeded as "find/<name>", else as "find-<name>".
	Folders bool
	// Tag sets tags on a seeded key; nil when the backend cannot (the tags
	// case is skipped).
	Tag func(t *testing.T, key string, tags map[string]string)
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	v1 := h.Seed(t, "conformance-db", []byte(`{"user":"app","password":"first"}`))
	h.Seed(t, "conformance-db", []byte(`{"user":"app","password":"second"}`))
	if h.Structured {
		h.Seed(t, "conformance-plain", []byte(`{"value":"just text"}`))
	} else {
		h.Seed(t, "conformance-plain", []byte("just text"))
	}

	sep := "-"
	if h.Folders {
		sep = "/"
	}
	findKey := func(name string) string { return "find" + sep + name }
	for _, name := range []string{"alpha", "beta", "gamma"} {
		h.Seed(t, findKey(name), []byte(`{"name":"`+name+`"}`))
	}
	if h.Tag != nil {
		h.Tag(t, findKey("alpha"), map[string]string{"team": "payments", "env": "prod"})
		h.Tag(t, findKey("beta"), map[string]string{"team": "payments", "env": "dev"})
	}

	newClient := func(t *testing.T) providers.Client {
		t.Helper()
		store, kube, ns := h.Store(t)
		if _, err := h.Provider.Validate(store); err != nil {
			t.Fatalf("Validate refused a valid store: %v", err)
		}
		c, err := h.Provider.NewClient(ctx, store, kube, ns)
		if err != nil {
			t.Fatalf("NewClient: %v", err)
		}
		t.Cleanup(func() { _ = c.Close(ctx) })
		return c
	}

	t.Run("get returns the latest version", func(t *testing.T) {
		s, err := newClient(t).GetSecret(ctx, providers.Ref{Key: "conformance-plain"})
		value := s.Value
		if err == nil && h.Structured {
			value, err = providers.Property(s.Value, "value")
		}
		if err != nil || string(value) != "just text" {
			t.Fatalf("GetSecret = %q, %v; want the seeded text", value, err)
		}
	})
	t.Run("a JSON value yields its properties", func(t *testing.T) {
		s, err := newClient(t).GetSecret(ctx, providers.Ref{Key: "conformance-db"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := providers.Property(s.Value, "password")
		if err != nil || string(p) != "second" {
			t.Fatalf("property password = %q, %v; want the latest value", p, err)
		}
	})
	t.Run("a pinned version returns that version", func(t *testing.T) {
		if h.NoVersions {
			t.Skip("backend has no versions")
		}
		s, err := newClient(t).GetSecret(ctx, providers.Ref{Key: "conformance-db", Version: v1})
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := providers.Property(s.Value, "password"); string(p) != "first" || s.Version != v1 {
			t.Fatalf("pinned read returned %q at version %q, want the first value at %q", p, s.Version, v1)
		}
	})
	t.Run("a missing key is NotFound", func(t *testing.T) {
		_, err := newClient(t).GetSecret(ctx, providers.Ref{Key: "conformance-absent"})
		if !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("error = %v, want ErrNotFound", err)
		}
	})
	t.Run("bad credentials are Forbidden", func(t *testing.T) {
		store, kube, ns := h.BadCredentials(t)
		c, err := h.Provider.NewClient(ctx, store, kube, ns)
		if err == nil {
			defer func() { _ = c.Close(ctx) }()
			if err = c.Check(ctx); err == nil {
				_, err = c.GetSecret(ctx, providers.Ref{Key: "conformance-plain"})
			}
		}
		if !errors.Is(err, providers.ErrForbidden) {
			t.Fatalf("error = %v, want ErrForbidden", err)
		}
	})
	t.Run("find returns what it keeps, under its path, with its tags", func(t *testing.T) {
		all := []string{findKey("alpha"), findKey("beta"), findKey("gamma")}
		cases := []struct {
			name string
			req  providers.FindRequest
			want []string
			err  error
		}{
			{name: "path", req: providers.FindRequest{Path: "find" + sep, MaxKeys: 10}, want: all},
			{name: "keep drops a key", req: providers.FindRequest{Path: "find" + sep, MaxKeys: 10, Keep: func(k string) bool { return k != findKey("beta") }},
				want: []string{findKey("alpha"), findKey("gamma")}},
			{name: "tags", req: providers.FindRequest{Path: "find" + sep, MaxKeys: 10, Tags: map[string]string{"team": "payments", "env": "prod"}},
				want: []string{findKey("alpha")}},
			{name: "more than maxKeys", req: providers.FindRequest{Path: "find" + sep, MaxKeys: 2}, err: providers.ErrTooMany},
			{name: "dropped keys do not count", req: providers.FindRequest{Path: "find" + sep, MaxKeys: 2, Keep: func(k string) bool { return k != findKey("beta") }},
				want: []string{findKey("alpha"), findKey("gamma")}},
			{name: "an empty path", req: providers.FindRequest{Path: "nothing" + sep + "here", MaxKeys: 10}, want: nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if tc.req.Tags != nil && h.Tag == nil {
					t.Skip("backend has no tags")
				}
				var calls atomic.Int64
				tc.req.BeforeCall = func(context.Context) error { calls.Add(1); return nil }
				found, err := newClient(t).FindSecrets(ctx, tc.req)
				if tc.err != nil {
					if !errors.Is(err, tc.err) {
						t.Fatalf("error = %v, want %v", err, tc.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := slices.Sorted(maps.Keys(found)); !slices.Equal(got, tc.want) {
					t.Fatalf("found %q, want %q", got, tc.want)
				}
				for key, s := range found {
					if name, _ := providers.Property(s.Value, "name"); key != findKey(string(name)) {
						t.Errorf("value of %q is %q, want its own", key, s.Value)
					}
				}
				if calls.Load() == 0 {
					t.Error("BeforeCall never ran: the find bypassed the store's rate limit")
				}
			})
		}
	})
	t.Run("check passes and close is idempotent", func(t *testing.T) {
		store, kube, ns := h.Store(t)
		c, err := h.Provider.NewClient(ctx, store, kube, ns)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Check(ctx); err != nil {
			t.Fatalf("Check: %v", err)
		}
		if err := c.Close(ctx); err != nil {
			t.Fatalf("first Close: %v", err)
		}
		if err := c.Close(ctx); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// Kube serves objs (credential Secrets, ServiceAccounts) to a provider from
// controller-runtime's fake client: for conformance and unit tests only;
// TokenRequest is not available through it.
func Kube(objs ...client.Object) providers.Kube {
	return providers.NewKube(clientfake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(objs...).Build(), nil)
}
