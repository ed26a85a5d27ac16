// Package admission tests the stable-reference admission policies
// (config/admission) on the real API server: what a Pod's Secret references
// become at admission, what is refused and with which message, and that a
// Pod naming nothing of ours is never changed or refused. The policies need
// no operator, only ExternalSecrets with a status, which the tests write.
package admission

import (
	"context"
	"os"
	"testing"
	"time"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	// The policies first: their probe writes a TargetIndex by hand, which the
	// TargetIndex controller would delete (no ExternalSecrets there).
	os.Exit(testenv.Run(m, &env, func(e *testenv.Env) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return e.InstallStableReferences(ctx)
	}, operator.RunTargetIndex))
}

// policies skips t without the control plane; TestMain installed the policies.
func policies(t *testing.T) {
	t.Helper()
	testenv.Require(t, env)
}

// indexed waits until the namespace's TargetIndex shows es as it is now.
func indexed(t *testing.T, es *vfv1alpha1.ExternalSecret) {
	t.Helper()
	if err := env.WaitIndexed(context.Background(), es); err != nil {
		t.Fatal(err)
	}
}
