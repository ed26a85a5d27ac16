// Package admission tests the stable-reference admission policies
// (config/admission) on the real API server: what a Pod's Secret references
// become at admission, what is refused and with which message, and that a
// Pod naming nothing of ours is never changed or refused. The policies need
// no operator, only ExternalSecrets with a status, which the tests write.
package admission

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vaultferry/vaultferry/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, &env))
}

var installed bool

// policies installs the policies once for the package.
func policies(t *testing.T) {
	t.Helper()
	testenv.Require(t, env)
	if installed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := env.InstallStableReferences(ctx); err != nil {
		t.Fatal(fmt.Errorf("installing the stable-reference policies: %w", err))
	}
	installed = true
}
