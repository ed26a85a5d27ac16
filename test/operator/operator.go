// Package operator runs the vaultferry manager in-process against a test
// control plane, as main does, and captures everything it logs so tests can
// prove no secret value leaks.
package operator

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/controllers/targetindex"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// Namespace is the operator's own namespace in tests.
const Namespace = "vaultferry-system"

var (
	logsOnce sync.Once
	logs     testenv.SyncBuffer
)

// CapturedLogs returns everything the operator logged in this test binary.
func CapturedLogs() string { return logs.String() }

// Running is a started manager.
type Running struct {
	// Cached reads through the manager's cache, as the reconcilers do.
	Cached client.Reader

	cancel  context.CancelFunc
	done    chan error
	stopped sync.Once
}

// Start runs a manager wired by controllers.Setup with cfg until the test
// ends or Stop is called. cfg.Namespace defaults to Namespace.
func Start(t testing.TB, env *testenv.Env, cfg controllers.Config) *Running {
	t.Helper()
	return start(t, env, env.Config, cfg)
}

// ServiceAccount is the identity StartWithShippedRBAC runs the operator as.
const ServiceAccount = "vaultferry"

// StartWithShippedRBAC runs the operator as its ServiceAccount, bound to
// exactly the ClusterRole shipped in config/rbac/role.yaml, by impersonation:
// whatever the operator does beyond that role fails as it would in a cluster.
func StartWithShippedRBAC(t testing.TB, env *testenv.Env, cfg controllers.Config) *Running {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.ClusterRole{}
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, role); err != nil {
		t.Fatal(err)
	}
	role.Name = "vaultferry-manager-under-test"
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ServiceAccount, Namespace: Namespace}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %s: %v", o.GetName(), err)
		}
	}
	impersonated := rest.CopyConfig(env.Config)
	impersonated.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + Namespace + ":" + ServiceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + Namespace, "system:authenticated"},
	}
	return start(t, env, impersonated, cfg)
}

func start(t testing.TB, env *testenv.Env, restConfig *rest.Config, cfg controllers.Config) *Running {
	t.Helper()
	captureLogs()
	if cfg.Namespace == "" {
		cfg.Namespace = Namespace
	}
	ctx, cancel := context.WithCancel(context.Background())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}}
	if err := env.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		cancel()
		t.Fatalf("creating operator namespace: %v", err)
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  controllers.CacheOptions(cfg.WatchNamespaces...),
		// Tests start several managers in one process, one after another.
		Controller: config.Controller{SkipNameValidation: new(true)},
	})
	if err != nil {
		cancel()
		t.Fatalf("creating manager: %v", err)
	}
	if err := controllers.Setup(ctx, mgr, cfg); err != nil {
		cancel()
		t.Fatalf("setting up controllers: %v", err)
	}
	r := &Running{Cached: mgr.GetClient(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- mgr.Start(ctx) }()
	t.Cleanup(func() { r.Stop(t) })
	return r
}

// Stop stops the manager and waits for it; calling it twice is fine.
func (r *Running) Stop(t testing.TB) {
	t.Helper()
	r.stopped.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("manager stopped with error: %v", err)
			}
		case <-time.After(time.Minute):
			t.Errorf("manager did not stop within a minute")
		}
	})
}

// captureLogs sends the operator's logs to a buffer (and to stderr when
// VAULTFERRY_TEST_LOGS=1). controller-runtime's logger is set once per process.
func captureLogs() {
	logsOnce.Do(func() {
		var out io.Writer = &logs
		if os.Getenv("VAULTFERRY_TEST_LOGS") == "1" {
			out = io.MultiWriter(&logs, os.Stderr)
		}
		ctrl.SetLogger(zap.New(zap.WriteTo(out), zap.UseDevMode(true)))
	})
}

// RunTargetIndex runs only the TargetIndex controller against env until the
// test binary exits: for suites that test the admission policies with
// ExternalSecrets whose status they write themselves (testenv.SetSynced).
func RunTargetIndex(env *testenv.Env) error {
	captureLogs()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: new(true)},
	})
	if err != nil {
		return err
	}
	index := &targetindex.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Events: mgr.GetEventRecorder("vaultferry")}
	if err := index.SetupWithManager(mgr); err != nil {
		return err
	}
	go func() { _ = mgr.Start(context.Background()) }()
	return nil
}
