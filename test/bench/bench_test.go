// Package bench is `make bench`: the operator binary against the envtest
// control plane and a real Vault dev server, syncing many ExternalSecrets.
// Sizes come from BENCH_N (ExternalSecrets, default 2000), BENCH_NAMESPACES
// (100), BENCH_KEYS (distinct remote keys, 50) and BENCH_UNRELATED (unrelated
// 10 KiB Secrets for the memory comparison, 20000; 0 skips that phase).
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
	"github.com/vaultferry/vaultferry/test/vaultdev"
)

// Result is one benchmark run, printed as a table and written as JSON.
type Result struct {
	ExternalSecrets      int     `json:"externalSecrets"`
	Namespaces           int     `json:"namespaces"`
	DistinctKeys         int     `json:"distinctKeys"`
	SecondsToAllReady    float64 `json:"secondsToAllReady"`
	ProviderRequests     float64 `json:"providerRequests"`
	VaultReads           int     `json:"vaultReads"`
	VaultLogins          int     `json:"vaultLogins"`
	PeakRSSMiB           float64 `json:"peakRSSMiB"`
	CPUSeconds           float64 `json:"cpuSeconds"`
	UnrelatedSecrets     int     `json:"unrelatedSecrets,omitempty"`
	PeakRSSWithUnrelated float64 `json:"peakRSSWithUnrelatedMiB,omitempty"`
}

func envInt(name string, fallback int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return fallback
}

func BenchmarkInitialSync(b *testing.B) {
	ctx := context.Background()
	res := Result{ExternalSecrets: envInt("BENCH_N", 2000), Namespaces: envInt("BENCH_NAMESPACES", 100), DistinctKeys: envInt("BENCH_KEYS", 50)}
	unrelated := envInt("BENCH_UNRELATED", 20000)
	env, err := testenv.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	v := vaultdev.Start(b)
	for k := range res.DistinctKeys {
		v.PutKV(b, fmt.Sprintf("bench/%d", k), map[string]any{"password": fmt.Sprintf("p-%d", k)})
	}
	if _, err := env.Kubectl(ctx, "create", "namespace", operator.Namespace); err != nil {
		b.Fatal(err)
	}
	var namespaces []string
	for i := range res.Namespaces {
		ns := fmt.Sprintf("bench-%03d", i)
		namespaces = append(namespaces, ns)
		operator.Create(b, env.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vault-token"}, StringData: map[string]string{"token": vaultdev.RootToken}},
			&vfv1alpha1.SecretStore{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vault"}, Spec: vfv1alpha1.SecretStoreSpec{
				Provider: vfv1alpha1.SecretStoreProvider{Vault: &vfv1alpha1.VaultProvider{Server: v.Addr,
					Auth: vfv1alpha1.VaultAuth{TokenSecretRef: &vfv1alpha1.SecretKeySelector{Name: "vault-token", Key: "token"}}}}}})
	}
	for i := range res.ExternalSecrets {
		ns := namespaces[i%len(namespaces)]
		operator.Create(b, env.Client, fixtures.ExternalSecret(ns, fmt.Sprintf("es-%d", i),
			fixtures.WithStore(vfv1alpha1.SecretStoreKind, "vault"), fixtures.WithData("password", fmt.Sprintf("bench/%d", i%res.DistinctKeys), "password")))
	}
	bin, err := operator.BuildBinary(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	start := time.Now()
	proc, err := operator.StartBinary(ctx, bin, env.Kubeconfig, nil, "--concurrency=16")
	if err != nil {
		b.Fatal(err)
	}
	waitAllReady(b, env, res.ExternalSecrets)
	res.SecondsToAllReady = time.Since(start).Seconds()
	b.StopTimer()
	res.ProviderRequests = sumMetric(b, proc, `vaultferry_provider_requests_total{operation="GetSecret"`)
	res.VaultReads = v.Requests(b, "secret/data/bench/")
	res.VaultLogins = v.Logins(b, "token")
	res.PeakRSSMiB, res.CPUSeconds = procStats(b, proc.PID())
	proc.Stop()

	if unrelated > 0 {
		payload := strings.Repeat("u", 10*1024)
		for i := range unrelated {
			operator.Create(b, env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespaces[i%len(namespaces)], Name: fmt.Sprintf("unrelated-%d", i)},
				StringData: map[string]string{"blob": payload}})
		}
		proc, err = operator.StartBinary(ctx, bin, env.Kubeconfig, nil, "--concurrency=16")
		if err != nil {
			b.Fatal(err)
		}
		waitAllReady(b, env, res.ExternalSecrets)
		time.Sleep(5 * time.Second) // a full resync of the caches
		res.UnrelatedSecrets = unrelated
		res.PeakRSSWithUnrelated, _ = procStats(b, proc.PID())
		proc.Stop()
	}
	report(b, res)
}

func waitAllReady(b *testing.B, env *testenv.Env, want int) {
	b.Helper()
	deadline := time.Now().Add(15 * time.Minute)
	for time.Now().Before(deadline) {
		list := &vfv1alpha1.ExternalSecretList{}
		if err := env.Client.List(context.Background(), list); err != nil {
			b.Fatal(err)
		}
		ready := 0
		for _, es := range list.Items {
			if apimeta.IsStatusConditionTrue(es.Status.Conditions, vfv1alpha1.ReadyCondition) {
				ready++
			}
		}
		if ready >= want {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	b.Fatalf("not all %d ExternalSecrets Ready within 15 minutes", want)
}

// sumMetric adds the values of every series whose line starts with prefix.
func sumMetric(b *testing.B, proc *operator.Process, prefix string) float64 {
	b.Helper()
	text, err := proc.Metrics()
	if err != nil {
		b.Fatal(err)
	}
	sum := 0.0
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// procStats reads peak RSS (VmHWM) and CPU seconds of a live process from /proc.
func procStats(b *testing.B, pid int) (rssMiB, cpuSeconds float64) {
	b.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			rssMiB = kb / 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	fields := strings.Fields(string(stat)[strings.LastIndex(string(stat), ")")+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return rssMiB, (utime + stime) / 100 // clock ticks (USER_HZ = 100)
}

func report(b *testing.B, r Result) {
	b.Helper()
	table := fmt.Sprintf(`
| measure | value |
|---|---|
| ExternalSecrets / namespaces / distinct keys | %d / %d / %d |
| time to all Ready | %.1f s |
| provider GetSecret calls (operator metrics) | %.0f |
| Vault reads of the keys (Vault audit log) | %d |
| Vault logins | %d |
| operator peak RSS | %.1f MiB |
| operator CPU | %.1f s |
| peak RSS with %d unrelated 10 KiB Secrets | %.1f MiB |
`, r.ExternalSecrets, r.Namespaces, r.DistinctKeys, r.SecondsToAllReady, r.ProviderRequests, r.VaultReads, r.VaultLogins,
		r.PeakRSSMiB, r.CPUSeconds, r.UnrelatedSecrets, r.PeakRSSWithUnrelated)
	fmt.Println(table)
	out, _ := json.MarshalIndent(r, "", "  ")
	fmt.Println(string(out))
	_ = os.WriteFile(filepath.Join(testenv.RepoRoot(), "bin", "bench.json"), out, 0o600)
}
