// Package gitops tests versioned Secrets with workloads that a GitOps tool
// applies from Git, on the real API server with the real
// kube-controller-manager (Deployments create ReplicaSets and Pods) and the
// stable-reference admission policies installed. Flux's kustomize-controller
// runs with its own apply engine (fluxcd/pkg/ssa, driven as
// kustomize-controller drives it); Argo CD's sync modes with kubectl.
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
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

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

// fluxApply is a server-side apply with kustomize-controller's field
// manager and force, without Flux's managedFields cleanup: the stand-in
// for tests whose subject is not what Flux does to fields others own
// (those use kustomization, Flux's own engine).
func fluxApply(t *testing.T, manifest string) {
	t.Helper()
	env.MustKubectl(t, "apply", "--server-side", "--field-manager=kustomize-controller", "--force-conflicts", "-f", manifest)
}

// syncer is a GitOps engine's view of one application: apply is one
// interval's sync, diff its drift detection ("" when in sync).
type syncer interface {
	apply(t *testing.T, manifests ...string)
	diff(t *testing.T, manifests ...string) string
}

// engine names a GitOps engine and starts its view of an application
// (names without commas: kubectl splits -f paths, which hold test names).
type engine struct {
	name  string
	start func(t *testing.T) syncer
	// takesOverKubectl: the engine's apply takes over fields written with
	// kubectl and removes those its manifest lacks (Flux).
	takesOverKubectl bool
}

// engines are the GitOps engines every workload story runs with: Flux's
// own apply engine as kustomize-controller drives it, and Argo CD's two
// sync modes reproduced with kubectl (its engine needs Go 1.27):
// client-side apply with the 3-way diff over last-applied-configuration,
// and server-side apply with a server-side diff.
func engines() []engine {
	return []engine{
		{"Flux", func(t *testing.T) syncer { return newKustomization(t, "apps") }, true},
		{"ArgoCD-client-side", func(*testing.T) syncer { return kubectlApply{} }, false},
		{"ArgoCD-server-side", func(*testing.T) syncer { return kubectlApply{fieldManager: "argocd-controller"} }, false},
	}
}

// kubectlApply applies as Argo CD's sync does: client-side apply, or with
// fieldManager a server-side apply with force under that manager.
type kubectlApply struct{ fieldManager string }

func (k kubectlApply) args(verb string, manifests []string) []string {
	args := []string{verb}
	for _, m := range manifests {
		args = append(args, "-f", m)
	}
	if k.fieldManager == "" {
		return args
	}
	return append(args, "--server-side", "--field-manager="+k.fieldManager, "--force-conflicts")
}

func (k kubectlApply) apply(t *testing.T, manifests ...string) {
	t.Helper()
	env.MustKubectl(t, k.args("apply", manifests)...)
}

func (k kubectlApply) diff(t *testing.T, manifests ...string) string {
	t.Helper()
	args := k.args("diff", manifests)
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

func (k *kustomization) apply(_ *testing.T, manifests ...string) { k.reconcile(manifests...) }

func (k *kustomization) diff(_ *testing.T, manifests ...string) string { return k.diffOf(manifests...) }

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
		if holdOnly(held, n, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ReplicaSet %s: want %d Pods holding %s, got %v", rs.Name, n, want, held)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// holdOnly says whether held (the Secrets each Pod names) has at least n
// Pods, each naming only want.
func holdOnly(held [][]string, n int, want string) bool {
	if len(held) < n {
		return false
	}
	for _, names := range held {
		for _, name := range names {
			if name != want {
				return false
			}
		}
	}
	return true
}

// waitPinOwned waits until the operator co-owns target's pin on the pod
// template of Deployment name through server-side apply: a GitOps engine's
// apply of a manifest without the pin then leaves it alone, whoever wrote it.
func waitPinOwned(t *testing.T, namespace, name, target string) {
	t.Helper()
	pin := fieldpath.MakePathOrDie("spec", "template", "metadata", "annotations", podrefs.PinAnnotation(target))
	operator.WaitFor(t, env.Client, deployment(t, namespace, name), "the operator applying "+pin.String(), func(d *appsv1.Deployment) bool {
		for _, entry := range d.ManagedFields {
			if entry.Manager != "vaultferry" || entry.Operation != metav1.ManagedFieldsOperationApply || entry.FieldsV1 == nil {
				continue
			}
			owned := &fieldpath.Set{}
			if err := owned.FromJSON(entry.FieldsV1.GetRawReader()); err != nil {
				t.Fatal(err)
			}
			return owned.Has(pin)
		}
		return false
	})
}
