// Package gitops tests versioned Secrets with workloads that a GitOps tool
// applies from Git, on the real API server with the real
// kube-controller-manager (Deployments create ReplicaSets and Pods) and the
// stable-reference admission policies installed. Flux's kustomize-controller
// is simulated by what it does to a Deployment: a server-side apply of the
// Git manifest with its field manager and force, repeated at every interval,
// and a server-side dry run to detect drift; Argo CD by client-side apply.
package gitops

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/controllers/metrics"
	"github.com/vaultferry/vaultferry/controllers/podrefs"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, &env, (*testenv.Env).StartControllerManager, func(e *testenv.Env) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return e.InstallStableReferences(ctx)
	}))
}

// start runs the operator with the shipped RBAC and default flags; it finds
// the policies and runs in admission mode.
func start(t *testing.T) *prometheus.Registry {
	t.Helper()
	testenv.Require(t, env)
	reg := prometheus.NewRegistry()
	operator.StartWithShippedRBAC(t, env, controllers.Config{
		Registry:     providers.MustNewRegistry(fake.New()),
		Metrics:      metrics.New(reg),
		StoreWait:    time.Second,
		InUseRecheck: time.Second,
	})
	return reg
}

// gitRepo holds manifests as a GitOps tool reads them from Git.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) gitRepo { return gitRepo{t: t, dir: t.TempDir()} }

func (g gitRepo) write(name, manifest string) string {
	path := filepath.Join(g.dir, name)
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		g.t.Fatal(err)
	}
	return path
}

// fluxApply does what kustomize-controller does at each interval.
func fluxApply(t *testing.T, manifest string) {
	t.Helper()
	env.MustKubectl(t, "apply", "--server-side", "--field-manager=kustomize-controller", "--force-conflicts", "-f", manifest)
}

// argoApply does what Argo CD's default sync does: a client-side apply.
func argoApply(t *testing.T, manifest string) {
	t.Helper()
	env.MustKubectl(t, "apply", "-f", manifest)
}

// drift runs the tool's drift detection against the live objects and
// returns the diff ("" when in sync): a server-side apply dry run with
// kustomize-controller's field manager for Flux, a client-side diff for Argo CD.
func drift(t *testing.T, manifest string, serverSide bool) string {
	t.Helper()
	args := []string{"diff", "-f", manifest}
	if serverSide {
		args = append(args, "--server-side", "--field-manager=kustomize-controller", "--force-conflicts")
	}
	out, err := env.Kubectl(context.Background(), args...)
	if err == nil {
		return ""
	}
	if exit := (*exec.ExitError)(nil); errors.As(err, &exit) && exit.ExitCode() == 1 {
		return out
	}
	t.Fatalf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
	return ""
}

// replicaSets lists the ReplicaSets of Deployment name, oldest revision first.
func replicaSets(t *testing.T, namespace, name string) []appsv1.ReplicaSet {
	t.Helper()
	list := &appsv1.ReplicaSetList{}
	if err := env.Client.List(context.Background(), list, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if owner := metav1.GetControllerOf(&rs); owner != nil && owner.Kind == "Deployment" && owner.Name == name {
			out = append(out, rs)
		}
	}
	revision := func(rs appsv1.ReplicaSet) int {
		n, _ := strconv.Atoi(rs.Annotations["deployment.kubernetes.io/revision"])
		return n
	}
	slices.SortFunc(out, func(a, b appsv1.ReplicaSet) int { return revision(a) - revision(b) })
	return out
}

// secretsHeldBy lists, per Pod of rs, the Secrets the Pod names.
func secretsHeldBy(t *testing.T, rs appsv1.ReplicaSet) [][]string {
	t.Helper()
	pods := &corev1.PodList{}
	if err := env.Client.List(context.Background(), pods, client.InNamespace(rs.Namespace)); err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, p := range pods.Items {
		if owner := metav1.GetControllerOf(&p); owner != nil && owner.UID == rs.UID && p.DeletionTimestamp.IsZero() {
			out = append(out, podrefs.Names(&p.Spec))
		}
	}
	return out
}

// waitPodsHolding waits until rs has at least n Pods and each names only
// want (every reference of the test Deployment is to one Secret).
func waitPodsHolding(t *testing.T, rs appsv1.ReplicaSet, n int, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		held := secretsHeldBy(t, rs)
		ok := len(held) >= n
		for _, names := range held {
			for _, name := range names {
				ok = ok && name == want
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ReplicaSet %s: want %d Pods holding %s, got %v", rs.Name, n, want, held)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
