// Command demo is `make demo`: the main job end to end on one machine. It
// starts a local control plane (envtest's kube-apiserver and etcd), installs
// the CRDs, runs the operator binary, applies config/samples, and shows the
// synced, versioned Secrets, a rotation, and the operator's metrics.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

func main() {
	keep := flag.Bool("keep", false, "keep the control plane and operator running until Ctrl-C")
	binary := flag.String("binary", filepath.Join(testenv.RepoRoot(), "bin", "vaultferry"), "operator binary (built when missing)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Stdout, *binary, *keep)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

// Run performs the demo, writing what a user would look at to out.
func Run(ctx context.Context, out io.Writer, binary string, keep bool) error {
	d := &demo{ctx: ctx, out: out}
	step := func(title string) { fmt.Fprintf(out, "\n=== %s\n", title) }

	step("Starting a local control plane (kube-apiserver, etcd, kube-controller-manager) with the vaultferry CRDs")
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	d.env = env
	fmt.Fprintf(out, "kubeconfig: %s\n", env.Kubeconfig)
	if err := env.StartControllerManager(); err != nil {
		return err
	}
	fmt.Fprintln(out, "kube-controller-manager runs: Deployments create ReplicaSets and Pods (no scheduler: Pods stay Pending, but they pass admission)")

	step("Installing the stable-reference admission policies (config/admission; the chart does this on Kubernetes 1.36+)")
	if err := d.kubectl("apply", "--server-side", "-f", testenv.StableReferencesPolicies()); err != nil {
		return err
	}

	if _, err := os.Stat(binary); err != nil {
		dir, err := os.MkdirTemp("", "vaultferry-demo-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(dir) }()
		if binary, err = operator.BuildBinary(ctx, dir); err != nil {
			return err
		}
	}
	step("Running the operator")
	if err := d.kubectl("create", "namespace", operator.Namespace); err != nil {
		return err
	}
	// Kept running, the operator's log goes to a file a user can follow.
	var operatorLog *os.File
	if keep {
		if operatorLog, err = os.CreateTemp("", "vaultferry-demo-operator-*.log"); err != nil {
			return err
		}
		defer func() { _ = operatorLog.Close() }()
	}
	proc, err := operator.StartBinary(ctx, binary, env.Kubeconfig, logWriter(operatorLog))
	if err != nil {
		return err
	}
	defer proc.Stop()
	fmt.Fprintf(out, "operator ready; metrics at %s\n", proc.MetricsURL)

	samples := filepath.Join(testenv.RepoRoot(), "config", "samples")
	step("Applying config/samples: two tenant namespaces, a SecretStore and a ClusterSecretStore admitted to both; stores first, so that no ExternalSecret waits for one")
	if err := d.kubectl("apply", "-f", filepath.Join(samples, "00-namespaces.yaml"), "-f", filepath.Join(samples, "10-secretstore.yaml"),
		"-f", filepath.Join(samples, "20-clustersecretstore.yaml")); err != nil {
		return err
	}
	if err := d.kubectl("wait", "--for=condition=Ready", "secretstores,clustersecretstores", "--all", "-A", "--timeout=60s"); err != nil {
		return err
	}
	step("Applying four ExternalSecrets (config/samples/30-externalsecrets.yaml) and a ClusterExternalSecret that creates one more in each tenant namespace (40-clusterexternalsecret.yaml)")
	if err := d.kubectl("apply", "-f", filepath.Join(samples, "30-externalsecrets.yaml"), "-f", filepath.Join(samples, "40-clusterexternalsecret.yaml")); err != nil {
		return err
	}
	if err := d.kubectl("wait", "--for=condition=Ready", "clusterexternalsecrets", "--all", "--timeout=60s"); err != nil {
		return err
	}
	if err := d.kubectl("wait", "--for=condition=Ready", "externalsecrets", "--all", "-A", "--timeout=60s"); err != nil {
		return err
	}
	if err := d.kubectl("get", "secretstores.vaultferry.io,clustersecretstores.vaultferry.io,clusterexternalsecrets.vaultferry.io,externalsecrets.vaultferry.io", "-A"); err != nil {
		return err
	}

	step("The synced versions: immutable Secrets named <target>-<keyed hash>")
	if err := d.showVersions(); err != nil {
		return err
	}
	step("The rendered DSN in the current version of payments/db-credentials")
	current, err := d.capture("get", "externalsecret", "-n", "payments", "db-credentials", "-o", "jsonpath={.status.currentSecretName}")
	if err != nil {
		return err
	}
	if err := d.kubectl("get", "secret", "-n", "payments", current, "-o", `go-template={{ index .data "dsn" | base64decode }}{{ "\n" }}`); err != nil {
		return err
	}

	step("A Deployment from Git names the stable target db-credentials (config/samples/gitops); its Pods get the current version at admission")
	// The admission policy reads the namespace's TargetIndex, which follows
	// the ExternalSecret a moment later: a Pod admitted before would be
	// refused and its ReplicaSet retried only after a backoff.
	if err := d.waitForIndexed("db-credentials", current); err != nil {
		return err
	}
	webManifest := filepath.Join(testenv.RepoRoot(), "config", "samples", "gitops", "web-deployment.yaml")
	if err := d.kubectl("apply", "--server-side", "--field-manager=kustomize-controller", "-f", webManifest); err != nil {
		return err
	}
	if err := d.waitForPods(current, 2); err != nil {
		return err
	}
	if err := d.showWeb(); err != nil {
		return err
	}

	step("Rotating the database password in the store, then asking for an immediate refresh")
	patch := `[{"op":"replace","path":"/spec/provider/fake/data/0","value":{"key":"payments/db","version":"2","value":"{\"username\":\"payments\",\"password\":\"demo-password-2\",\"host\":\"db.payments.svc\"}"}}]`
	if err := d.kubectl("patch", "secretstore", "-n", "payments", "payments-vault", "--type=json", "-p", patch); err != nil {
		return err
	}
	if err := d.kubectl("annotate", "externalsecret", "-n", "payments", "db-credentials", "--overwrite", "vaultferry.io/force-sync="+time.Now().Format(time.RFC3339Nano)); err != nil {
		return err
	}
	if err := d.waitForNewVersion(current); err != nil {
		return err
	}
	next, err := d.capture("get", "externalsecret", "-n", "payments", "db-credentials", "-o", "jsonpath={.status.currentSecretName}")
	if err != nil {
		return err
	}
	step("The Deployment rolled once: the operator pinned the new version on its pod template; the new ReplicaSet's Pods hold it, the old one's keep theirs")
	if err := d.waitForPods(next, 1); err != nil {
		return err
	}
	if err := d.showWeb(); err != nil {
		return err
	}
	step("Re-applying the Git manifest, as Flux does at every interval: no drift, no rollout")
	if err := d.kubectl("apply", "--server-side", "--field-manager=kustomize-controller", "--force-conflicts", "-f", webManifest); err != nil {
		return err
	}
	if err := d.kubectl("diff", "--server-side", "--field-manager=kustomize-controller", "--force-conflicts", "-f", webManifest); err != nil {
		return err
	}
	fmt.Fprintln(out, "(kubectl diff: no differences)")

	step("Both versions exist: pods on the old one keep running; new pods get the new one")
	if err := d.showVersions(); err != nil {
		return err
	}
	step("What a tenant sees: kubectl describe (conditions, kept versions, events)")
	if err := d.kubectl("describe", "externalsecrets.vaultferry.io", "-n", "payments", "db-credentials"); err != nil {
		return err
	}
	step("Warning events on vaultferry objects (a clean run has none)")
	warnings, err := d.capture("get", "events", "-A", "--field-selector", "type=Warning", "-o",
		`jsonpath={range .items[?(@.regarding.apiVersion=="vaultferry.io/v1alpha1")]}{.regarding.kind}/{.regarding.name}: {.reason} {.note}{"\n"}{end}`)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d warning events\n%s", strings.Count(warnings, "\n"), warnings)

	step("Operator metrics (vaultferry_*, histogram buckets left out)")
	metrics, err := proc.Metrics()
	if err != nil {
		return err
	}
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "vaultferry_") && !strings.Contains(line, "_bucket{") {
			fmt.Fprintln(out, line)
		}
	}

	if keep {
		step("Still running (Ctrl-C stops the control plane and the operator). Try:")
		fmt.Fprintf(out, "  tail -f %s   # the operator's log\n", operatorLog.Name())
		kubectl := filepath.Join(testenv.RepoRoot(), "bin", "k8s", "kubectl")
		fmt.Fprintf(out, `  export KUBECONFIG=%s
  alias kubectl=%s
  kubectl get vaultferry -A            # the category: every vaultferry kind
  kubectl describe vfes -n payments db-credentials
  kubectl get secrets -n payments -l vaultferry.io/managed=true
  kubectl annotate vfes -n payments db-credentials --overwrite vaultferry.io/force-sync=$(date +%%s)
  kubectl edit vfss -n payments payments-vault            # change a value under spec.provider.fake.data: a rotation
  kubectl get pods,replicasets -n payments -l app=web     # the rollout it causes
  kubectl apply -n payments -f %s   # templates: PKCS#12, DSN, dual-key rotation
  curl -s %s | grep ^vaultferry_
`, env.Kubeconfig, kubectl, filepath.Join(samples, "templates"), proc.MetricsURL)
		<-ctx.Done()
	}
	step("Demo complete")
	return nil
}

// logWriter is f as a writer, or nil (not a nil *os.File in an interface).
func logWriter(f *os.File) io.Writer {
	if f == nil {
		return nil
	}
	return f
}

type demo struct {
	ctx context.Context
	out io.Writer
	env *testenv.Env
}

func (d *demo) kubectl(args ...string) error {
	fmt.Fprintf(d.out, "$ kubectl %s\n", strings.Join(args, " "))
	text, err := d.env.Kubectl(d.ctx, args...)
	fmt.Fprint(d.out, text)
	if err != nil {
		return fmt.Errorf("kubectl %s: %w", args[0], err)
	}
	return nil
}

func (d *demo) capture(args ...string) (string, error) {
	text, err := d.env.Kubectl(d.ctx, args...)
	if err != nil {
		return "", fmt.Errorf("kubectl %s: %w: %s", args[0], err, text)
	}
	return strings.TrimSpace(text), nil
}

func (d *demo) showVersions() error {
	return d.kubectl("get", "secrets", "-A", "-l", "vaultferry.io/managed=true", "-o",
		`custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name,EXTERNALSECRET:.metadata.labels.vaultferry\.io/external-secret,REVISION:.metadata.annotations.vaultferry\.io/revision,IMMUTABLE:.immutable`)
}

// showWeb lists the ReplicaSets of Deployment web with the version each pins
// and the Secret each Pod holds.
func (d *demo) showWeb() error {
	if err := d.kubectl("get", "replicasets", "-n", "payments", "-l", "app=web", "--sort-by=.metadata.creationTimestamp", "-o",
		`custom-columns=REPLICASET:.metadata.name,REVISION:.metadata.annotations.deployment\.kubernetes\.io/revision,PINNED:.spec.template.metadata.annotations.vaultferry\.io/version\.db-credentials,REPLICAS:.spec.replicas`); err != nil {
		return err
	}
	return d.kubectl("get", "pods", "-n", "payments", "-l", "app=web", "--sort-by=.metadata.creationTimestamp", "-o",
		`custom-columns=POD:.metadata.name,VOLUME-SECRET:.spec.volumes[0].secret.secretName,ENV-SECRET:.spec.containers[0].env[0].valueFrom.secretKeyRef.name,PHASE:.status.phase`)
}

// waitForIndexed waits until the TargetIndex of payments gives target's Pods version.
func (d *demo) waitForIndexed(target, version string) error {
	deadline := time.Now().Add(operator.Timeout)
	for time.Now().Before(deadline) {
		got, err := d.capture("get", "targetindex", vfv1alpha1.TargetIndexName, "-n", "payments", "-o", "jsonpath={.targets."+target+"}")
		if err == nil && strings.TrimSpace(got) == version {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the TargetIndex of payments does not give %s %s within %v", target, version, operator.Timeout)
}

// waitForPods waits until at least n Pods of web hold secret.
func (d *demo) waitForPods(secret string, n int) error {
	deadline := time.Now().Add(operator.Timeout)
	for time.Now().Before(deadline) {
		held, err := d.capture("get", "pods", "-n", "payments", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.spec.volumes[0].secret.secretName}{\"\\n\"}{end}")
		if err == nil && strings.Count(held+"\n", secret+"\n") >= n {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("fewer than %d Pods of web hold %s within %v", n, secret, operator.Timeout)
}

func (d *demo) waitForNewVersion(old string) error {
	deadline := time.Now().Add(operator.Timeout)
	for time.Now().Before(deadline) {
		current, err := d.capture("get", "externalsecret", "-n", "payments", "db-credentials", "-o", "jsonpath={.status.currentSecretName}")
		if err == nil && current != "" && current != old {
			fmt.Fprintf(d.out, "new current version: %s (was %s)\n", current, old)
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("no new version of payments/db-credentials within %v", operator.Timeout)
}
