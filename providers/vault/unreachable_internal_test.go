package vault

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vaultferry/vaultferry/providers"
)

// "could not reach Vault" says where and why, in words an admin acts on.
func TestUnreachableSaysWhereAndWhy(t *testing.T) {
	closedPort := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		return "http://" + addr
	}
	silent := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { _ = c.Close() })
			}
		}()
		return "http://" + l.Addr().String()
	}
	tlsServer := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tlsServer.Close)
	plainServer := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plainServer.Close)

	// Only the silent server is waited for by a timeout, as short as it may
	// be; the others answer at once, but a busy machine may take seconds.
	for name, tc := range map[string]struct {
		server, want string
	}{
		"nothing listens":             {closedPort(), "connection refused"},
		"a name that does not exist":  {"http://vault.example.invalid:8200", "does not resolve (DNS)"},
		"a certificate of another CA": {tlsServer.URL, "set caBundle or caProvider"},
		"TLS to a plain HTTP port":    {strings.Replace(plainServer.URL, "http://", "https://", 1), "the server does not speak TLS"},
		"no answer":                   {silent(), "timed out"},
	} {
		t.Run(name, func(t *testing.T) {
			timeout := time.Minute
			if tc.want == "timed out" {
				timeout = 300 * time.Millisecond
			}
			resp, err := (&http.Client{Timeout: timeout}).Get(tc.server + "/v1/secret/data/db")
			if err == nil {
				_ = resp.Body.Close()
				t.Fatal("the request succeeded")
			}
			got := classify(err, "reading db", tc.server)
			if !errors.Is(got, providers.ErrUnavailable) {
				t.Errorf("class of %v: want Unavailable", got)
			}
			for _, want := range []string{"could not reach Vault at " + tc.server, tc.want} {
				if !strings.Contains(got.Error(), want) {
					t.Errorf("%q does not say %q", got, want)
				}
			}
		})
	}
}
