// Package testenv starts the real test control plane (kube-apiserver + etcd
// from KUBEBUILDER_ASSETS, see `make test-peers`) with the vaultferry CRDs
// installed, and holds the helpers every envtest suite shares.
package testenv

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// Env is a running control plane.
type Env struct {
	// Config reaches the API server as cluster admin.
	Config *rest.Config
	// Client is an uncached client with the vaultferry scheme.
	Client client.Client
	// Scheme knows the built-in kinds and vaultferry's.
	Scheme *runtime.Scheme
	// Kubeconfig is the path of a kubeconfig file for kubectl and child processes.
	Kubeconfig string

	env               *envtest.Environment
	dir               string
	controllerManager *exec.Cmd
}

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Assets is the directory holding kube-apiserver, etcd and kubectl.
func Assets() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "bin", "k8s")
}

// Scheme returns a scheme with the built-in kinds and vaultferry's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := vfv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Start starts the control plane and installs the CRDs. It fails, rather than
// skipping, when the binaries are missing: `make test-peers` installs them.
func Start() (*Env, error) {
	assets := Assets()
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("test peer %s missing in %s: run 'make test-peers'", bin, assets)
		}
	}
	dir, err := os.MkdirTemp("", "vaultferry-envtest-")
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(dir, "apiserver")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		// A fixed certificate directory survives RestartAPIServer, so clients keep trusting it.
		ControlPlane: envtest.ControlPlane{APIServer: &envtest.APIServer{CertDir: certDir}},
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	e := &Env{Config: cfg, Scheme: Scheme(), env: env, dir: dir}
	if e.Client, err = client.New(cfg, client.Options{Scheme: e.Scheme}); err != nil {
		_ = env.Stop()
		return nil, err
	}
	user, err := env.AddUser(envtest.User{Name: "test-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	e.Kubeconfig = filepath.Join(e.dir, "kubeconfig")
	if err := os.WriteFile(e.Kubeconfig, kc, 0o600); err != nil {
		_ = e.Stop()
		return nil, err
	}
	return e, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error {
	if cm := e.controllerManager; cm != nil {
		_ = cm.Process.Kill()
		_ = cm.Wait()
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
	return e.env.Stop()
}

// Run starts the control plane for a package's tests, runs them and stops it.
// Use it from TestMain: os.Exit(testenv.Run(m, &env)). With -short it starts
// nothing and *into stays nil: tests needing it skip through Require.
// Each of also runs on the started control plane before the tests (for
// example (*Env).StartControllerManager).
func Run(m *testing.M, into **Env, also ...func(*Env) error) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	e, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, setup := range also {
		if err := setup(e); err != nil {
			fmt.Fprintln(os.Stderr, err)
			_ = e.Stop()
			return 1
		}
	}
	*into = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
	}
	return code
}

// RestartAPIServer stops kube-apiserver and starts it again on the same
// address with the same certificates; etcd, and so every object, stays.
func (e *Env) RestartAPIServer() error {
	api := e.env.ControlPlane.APIServer
	// kube-apiserver drains slowly; envtest kills it after its stop timeout,
	// which is as good a stop as any here.
	_ = api.Stop()
	if err := api.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	return nil
}

// FreeAddr returns the address of a free 127.0.0.1 port.
func FreeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// Require skips t when the control plane was not started (-short).
func Require(t testing.TB, e *Env) {
	t.Helper()
	if e == nil {
		t.Skip("needs the test control plane (kube-apiserver, etcd); runs without -short")
	}
}

// Kubectl runs the envtest kubectl against this control plane and returns its combined output.
func (e *Env) Kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(Assets(), "kubectl"), append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// MustKubectl is Kubectl that fails t when kubectl does, with its output.
func (e *Env) MustKubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := e.Kubectl(context.Background(), args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Namespace creates a fresh namespace for one test and deletes it afterwards
// (envtest has no namespace controller, so its objects linger harmlessly).
func (e *Env) Namespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	Require(t, e)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-", Labels: labels}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Client.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() { _ = e.Client.Delete(context.Background(), ns) })
	return ns.Name
}

// StartControllerManager runs kube-controller-manager (built with
// kube-apiserver, see `make test-peers`) beside the API server until Stop:
// Deployments then create ReplicaSets and Pods (which stay Pending: there
// is no scheduler), the garbage collector deletes dependents, namespaces
// are emptied and ServiceAccounts get their default tokens.
func (e *Env) StartControllerManager() error {
	binary := filepath.Join(Assets(), "kube-controller-manager")
	if _, err := os.Stat(binary); err != nil {
		return fmt.Errorf("test peer kube-controller-manager missing in %s: run 'make test-peers'", Assets())
	}
	caFile := filepath.Join(e.dir, "ca.crt")
	if err := os.WriteFile(caFile, e.Config.CAData, 0o600); err != nil {
		return err
	}
	certDir := e.env.ControlPlane.APIServer.CertDir
	cmd := exec.Command(binary,
		"--kubeconfig="+e.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file="+filepath.Join(certDir, "sa-signer.key"),
		"--root-ca-file="+caFile,
		// Quick enough for tests: Pods of a new ReplicaSet appear at once,
		// deleted owners' dependents go within a second or two.
		"--concurrent-deployment-syncs=5", "--concurrent-replicaset-syncs=5", "--concurrent-gc-syncs=5",
		"--v=0",
	)
	logFile, err := os.Create(filepath.Join(e.dir, "kube-controller-manager.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	e.controllerManager = cmd
	return nil
}

// ControllerManagerLog is what kube-controller-manager has logged so far.
func (e *Env) ControllerManagerLog() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "kube-controller-manager.log"))
	return string(b)
}
