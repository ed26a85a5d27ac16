package clusterexternalsecret_test

import (
	"os"
	"testing"

	"github.com/vaultferry/vaultferry/test/testenv"
)

var env *testenv.Env

// The garbage collector of kube-controller-manager deletes the
// ExternalSecrets of a deleted ClusterExternalSecret, as in a cluster.
func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, &env, (*testenv.Env).StartControllerManager))
}
