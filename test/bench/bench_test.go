// Package bench is `make bench`: the operator binary against the envtest
// control plane and a real Vault dev server, syncing many ExternalSecrets.
//
// BenchmarkInitialSync creates BENCH_N ExternalSecrets (default 2000) in
// BENCH_NAMESPACES namespaces (100) reading BENCH_KEYS distinct remote keys
// (50), ExternalSecret i in namespace i mod M reading key i mod K, then starts
// the operator and measures the initial sync, one steady-state refresh cycle
// (BENCH_REFRESH, default 1m) and the memory with BENCH_UNRELATED unrelated
// 10 KiB Secrets (20000; 0 skips that phase). BENCH_STORE=cluster puts every
// namespace on one ClusterSecretStore instead of a SecretStore each.
//
// BenchmarkNewDuringRefreshWave keeps BENCH_WAVE ExternalSecrets (10000)
// refreshing every BENCH_WAVE_REFRESH (30s), more than the operator can
// refresh in that time, and measures how long a newly applied ExternalSecret
// takes to become Ready while the refresh backlog is queued.
//
// BENCH_FLAGS adds operator flags (default none: what a user gets);
// BENCH_OPERATOR_LOG=path keeps the operator's log of the cold sync (and its
// /proc status, smaps, metrics and resident memory every 50 ms (.rss) next to
// it; with BENCH_PPROF=host:port, also given as --pprof-bind-address in
// BENCH_FLAGS, its heap and goroutine profiles and a CPU profile of its first 8 s);
// BENCH_APISERVER_PROFILE=path a 5 s CPU profile of kube-apiserver from its start.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
	"github.com/vaultferry/vaultferry/test/vaultdev"
)

// InitialSync is one BenchmarkInitialSync run, printed as a table and written as JSON.
type InitialSync struct {
	ExternalSecrets int    `json:"externalSecrets"`
	Namespaces      int    `json:"namespaces"`
	DistinctKeys    int    `json:"distinctKeys"`
	StoreKind       string `json:"storeKind"`
	Stores          int    `json:"stores"`
	// StoreKeyPairs is the lower bound of reads: a read is shared only
	// through one store's client (stores may have different permissions).
	StoreKeyPairs     int     `json:"storeKeyPairs"`
	OperatorFlags     string  `json:"operatorFlags"`
	SecondsToAllReady float64 `json:"secondsToAllReady"`
	// RawWriteSeconds is what the API server needs for the writes of a cold
	// sync without an operator: one Secret create and one ExternalSecret
	// status patch per ExternalSecret, from 16 parallel clients with no
	// client-side rate limit, measured in the same run.
	RawWriteSeconds  float64 `json:"rawWriteSeconds"`
	ProviderRequests float64 `json:"providerRequests"`
	VaultReads       int     `json:"vaultReads"`
	// VaultRequests is every request Vault saw from the operator: reads,
	// logins, token lookups and renewals.
	VaultRequests int     `json:"vaultRequests"`
	VaultLogins   int     `json:"vaultLogins"`
	KubeRequests  float64 `json:"kubeRequests"`
	// KubeRequestsByMethod splits KubeRequests by HTTP method.
	KubeRequestsByMethod map[string]float64 `json:"kubeRequestsByMethod,omitempty"`
	// ColdAPIWritesByKind are the write requests the API server counted
	// during the cold sync, by "VERB resource/subresource".
	ColdAPIWritesByKind map[string]float64 `json:"coldAPIWritesByKind,omitempty"`
	PeakRSSMiB          float64            `json:"peakRSSMiB"`
	CPUSeconds          float64            `json:"cpuSeconds"`

	RefreshInterval    string  `json:"refreshInterval"`
	CycleSeconds       float64 `json:"cycleSeconds"`
	CycleSyncs         float64 `json:"cycleSyncs"`
	CycleProviderReads float64 `json:"cycleProviderReads"`
	CycleVaultReads    int     `json:"cycleVaultReads"`
	// CycleAPIWrites are the write requests (POST, PUT, PATCH, DELETE) the
	// API server counted during the cycle (apiserver_request_total; the
	// operator runs without leader election here, and is the only client).
	CycleAPIWrites float64 `json:"cycleAPIWrites"`
	// CycleAPIWritesByKind splits them by "VERB resource/subresource".
	CycleAPIWritesByKind map[string]float64 `json:"cycleAPIWritesByKind,omitempty"`

	UnrelatedSecrets     int     `json:"unrelatedSecrets,omitempty"`
	PeakRSSWithUnrelated float64 `json:"peakRSSWithUnrelatedMiB,omitempty"`
}

// RefreshWave is one BenchmarkNewDuringRefreshWave run.
type RefreshWave struct {
	ExternalSecrets   int     `json:"externalSecrets"`
	RefreshInterval   string  `json:"refreshInterval"`
	OperatorFlags     string  `json:"operatorFlags"`
	SecondsToAllReady float64 `json:"secondsToAllReady"`
	// RefreshesPerSecond is the sync rate while the probes ran: the wave.
	RefreshesPerSecond float64 `json:"refreshesPerSecond"`
	Probes             []Probe `json:"probes"`
	MaxProbeSeconds    float64 `json:"maxProbeSeconds"`
}

// Probe is one new ExternalSecret applied during the wave.
type Probe struct {
	// QueuedRefreshes is the ExternalSecret work queue's depth (items due)
	// when the probe was applied.
	QueuedRefreshes float64 `json:"queuedRefreshes"`
	SecondsToReady  float64 `json:"secondsToReady"`
}

func BenchmarkInitialSync(b *testing.B) {
	res := InitialSync{ExternalSecrets: envInt("BENCH_N", 2000), Namespaces: envInt("BENCH_NAMESPACES", 100), DistinctKeys: envInt("BENCH_KEYS", 50),
		StoreKind: vfv1alpha1.SecretStoreKind, RefreshInterval: envString("BENCH_REFRESH", "1m"), OperatorFlags: os.Getenv("BENCH_FLAGS")}
	if os.Getenv("BENCH_STORE") == "cluster" {
		res.StoreKind = vfv1alpha1.ClusterSecretStoreKind
	}
	unrelated := envInt("BENCH_UNRELATED", 20000)
	refresh, err := time.ParseDuration(res.RefreshInterval)
	if err != nil {
		b.Fatal(err)
	}
	f := setUp(b, res.Namespaces, res.DistinctKeys, res.StoreKind)
	res.Stores = f.stores
	res.StoreKeyPairs = f.createExternalSecrets(b, "es", res.ExternalSecrets, res.DistinctKeys, refresh)

	res.RawWriteSeconds = f.rawWrites(b, "es", res.ExternalSecrets)

	vaultReads0, vaultRequests0 := f.vault.Requests(b, "secret/data/bench/"), f.vault.Requests(b, "")
	coldWrites0 := apiServerWrites(b, f.env)
	b.ResetTimer()
	start := time.Now()
	proc := f.startOperator(b, res.OperatorFlags)
	profiled := f.profileAPIServer(b, os.Getenv("BENCH_APISERVER_PROFILE"))
	waitAllReady(b, f.env, res.ExternalSecrets)
	res.SecondsToAllReady = time.Since(start).Seconds()
	<-profiled
	b.StopTimer()
	// One scrape, as Prometheus would make, before the peak memory is read:
	// each scrape of 1000 ExternalSecrets' series allocates megabytes.
	scrape := operatorMetrics(b, proc)
	res.PeakRSSMiB, res.CPUSeconds = procStats(b, proc.PID())
	res.ProviderRequests = sumMetric(scrape, "vaultferry_provider_requests_total{", `operation="GetSecret"`)
	res.VaultReads = f.vault.Requests(b, "secret/data/bench/") - vaultReads0
	res.VaultRequests = f.vault.Requests(b, "") - vaultRequests0
	res.VaultLogins = f.vault.Logins(b, "token")
	res.ColdAPIWritesByKind, _ = writesSince(coldWrites0, apiServerWrites(b, f.env))
	res.KubeRequests = sumMetric(scrape, "rest_client_requests_total{")
	res.KubeRequestsByMethod = map[string]float64{}
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if n := sumMetric(scrape, "rest_client_requests_total{", `method="`+method+`"`); n > 0 {
			res.KubeRequestsByMethod[method] = n
		}
	}
	keepDiagnostics(b, proc, os.Getenv("BENCH_OPERATOR_LOG"), os.Getenv("BENCH_PPROF"), scrape)

	if refresh > 0 {
		writes0 := apiServerWrites(b, f.env)
		res.CycleSeconds, res.CycleSyncs, res.CycleProviderReads, res.CycleVaultReads = f.refreshCycle(b, proc, res.ExternalSecrets)
		res.CycleAPIWritesByKind, res.CycleAPIWrites = writesSince(writes0, apiServerWrites(b, f.env))
	}
	proc.Stop()

	if unrelated > 0 {
		f.createUnrelatedSecrets(b, unrelated)
		proc = f.startOperator(b, res.OperatorFlags)
		waitAllReady(b, f.env, res.ExternalSecrets)
		time.Sleep(5 * time.Second) // a full resync of the caches
		res.UnrelatedSecrets = unrelated
		res.PeakRSSWithUnrelated, _ = procStats(b, proc.PID())
		proc.Stop()
	}
	rows := [][2]string{
		{"ExternalSecrets / namespaces / distinct keys", fmt.Sprintf("%d / %d / %d", res.ExternalSecrets, res.Namespaces, res.DistinctKeys)},
		{"stores (kind)", fmt.Sprintf("%d (%s)", res.Stores, res.StoreKind)},
		{"distinct (store, key) pairs: the fewest reads possible", strconv.Itoa(res.StoreKeyPairs)},
		{"operator flags", res.OperatorFlags},
		{"time to all Ready", fmt.Sprintf("%.1f s", res.SecondsToAllReady)},
		{"the API server's raw write limit (a Secret and a status patch each, 16 clients, no client limit)", fmt.Sprintf("%.1f s", res.RawWriteSeconds)},
		{"time to all Ready / raw", fmt.Sprintf("%.1f×", res.SecondsToAllReady/res.RawWriteSeconds)},
		{"provider GetSecret calls (operator metrics)", fmt.Sprintf("%.0f", res.ProviderRequests)},
		{"Vault reads of the keys (Vault's audit log)", strconv.Itoa(res.VaultReads)},
		{"all Vault requests of the operator (audit log: reads, logins, token lookups)", strconv.Itoa(res.VaultRequests)},
		{"Vault logins", strconv.Itoa(res.VaultLogins)},
		{"Kubernetes API requests (operator)", fmt.Sprintf("%.0f %v", res.KubeRequests, res.KubeRequestsByMethod)},
		{"writes the API server received during the cold sync", fmt.Sprintf("%v", res.ColdAPIWritesByKind)},
		{"operator peak RSS", fmt.Sprintf("%.1f MiB", res.PeakRSSMiB)},
		{"operator CPU", fmt.Sprintf("%.1f s", res.CPUSeconds)},
	}
	if refresh > 0 {
		rows = append(rows,
			[2]string{"steady state: one refresh cycle (" + res.RefreshInterval + ")", fmt.Sprintf("%.1f s, %.0f refreshes", res.CycleSeconds, res.CycleSyncs)},
			[2]string{"steady state: provider GetSecret calls per cycle", fmt.Sprintf("%.0f", res.CycleProviderReads)},
			[2]string{"steady state: Vault reads per cycle (audit log)", strconv.Itoa(res.CycleVaultReads)},
			[2]string{"steady state: write requests the API server received per cycle", fmt.Sprintf("%.0f %v", res.CycleAPIWrites, res.CycleAPIWritesByKind)})
	}
	if res.UnrelatedSecrets > 0 {
		rows = append(rows, [2]string{fmt.Sprintf("peak RSS with %d unrelated 10 KiB Secrets", res.UnrelatedSecrets), fmt.Sprintf("%.1f MiB", res.PeakRSSWithUnrelated)})
	}
	report(b, "bench.json", res, rows)
}

func BenchmarkNewDuringRefreshWave(b *testing.B) {
	res := RefreshWave{ExternalSecrets: envInt("BENCH_WAVE", 10000), RefreshInterval: envString("BENCH_WAVE_REFRESH", "30s"),
		OperatorFlags: os.Getenv("BENCH_FLAGS")}
	refresh, err := time.ParseDuration(res.RefreshInterval)
	if err != nil {
		b.Fatal(err)
	}
	const probes = 5
	f := setUp(b, envInt("BENCH_NAMESPACES", 100), envInt("BENCH_KEYS", 50), vfv1alpha1.SecretStoreKind)
	for i := range probes {
		f.vault.PutKV(b, fmt.Sprintf("probe/%d", i), map[string]any{"password": "probe"})
	}

	// The operator runs while the ExternalSecrets are created, as in a
	// cluster being provisioned: their first syncs are user changes, every
	// later one a periodic refresh.
	start := time.Now()
	proc := f.startOperator(b, res.OperatorFlags)
	f.createExternalSecrets(b, "wave", res.ExternalSecrets, envInt("BENCH_KEYS", 50), refresh)
	waitAllReady(b, f.env, res.ExternalSecrets)
	res.SecondsToAllReady = time.Since(start).Seconds()

	b.ResetTimer()
	syncsBefore, probesStart := sumMetric(operatorMetrics(b, proc), "vaultferry_sync_total{"), time.Now()
	for i := range probes {
		es := fixtures.ExternalSecret(f.namespaces[i], fmt.Sprintf("probe-%d", i),
			fixtures.WithStore(vfv1alpha1.SecretStoreKind, "vault"), fixtures.WithData("password", fmt.Sprintf("probe/%d", i), "password"))
		p := Probe{QueuedRefreshes: sumMetric(operatorMetrics(b, proc), "workqueue_depth{", `name="externalsecret"`)}
		applied := time.Now()
		operator.Create(b, f.env.Client, es)
		waitReady(b, f.env.Client, es, 2*time.Minute)
		p.SecondsToReady = time.Since(applied).Seconds()
		res.Probes = append(res.Probes, p)
		res.MaxProbeSeconds = max(res.MaxProbeSeconds, p.SecondsToReady)
		time.Sleep(3 * time.Second)
	}
	b.StopTimer()
	res.RefreshesPerSecond = (sumMetric(operatorMetrics(b, proc), "vaultferry_sync_total{") - syncsBefore) / time.Since(probesStart).Seconds()
	proc.Stop()

	rows := [][2]string{
		{"ExternalSecrets refreshing every " + res.RefreshInterval, strconv.Itoa(res.ExternalSecrets)},
		{"operator flags", res.OperatorFlags},
		{"time to all Ready (created while the operator ran)", fmt.Sprintf("%.1f s", res.SecondsToAllReady)},
		{"refreshes per second during the probes", fmt.Sprintf("%.1f", res.RefreshesPerSecond)},
	}
	for i, p := range res.Probes {
		rows = append(rows, [2]string{fmt.Sprintf("new ExternalSecret %d: Ready after (refreshes queued)", i+1),
			fmt.Sprintf("%.2f s (%.0f)", p.SecondsToReady, p.QueuedRefreshes)})
	}
	rows = append(rows, [2]string{"slowest new ExternalSecret", fmt.Sprintf("%.2f s", res.MaxProbeSeconds)})
	report(b, "bench-wave.json", res, rows)
}

// fixture is a control plane, a Vault with the benchmark's keys, namespaces
// with a token Secret each, their store(s) and the operator binary.
type fixture struct {
	env        *testenv.Env
	vault      *vaultdev.Server
	namespaces []string
	storeKind  string
	stores     int
	binary     string
}

func setUp(b *testing.B, namespaces, keys int, storeKind string) *fixture {
	b.Helper()
	ctrllog.SetLogger(logr.Discard()) // the operator under test is a separate process with its own logs
	ctx := context.Background()
	env, err := testenv.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = env.Stop() })
	f := &fixture{env: env, vault: vaultdev.Start(b), storeKind: storeKind}
	for k := range keys {
		f.vault.PutKV(b, fmt.Sprintf("bench/%d", k), map[string]any{"password": fmt.Sprintf("p-%d", k)})
	}
	if _, err := env.Kubectl(ctx, "create", "namespace", operator.Namespace); err != nil {
		b.Fatal(err)
	}
	vault := func(tokenNamespace string) vfv1alpha1.SecretStoreSpec {
		return vfv1alpha1.SecretStoreSpec{Provider: vfv1alpha1.SecretStoreProvider{Vault: &vfv1alpha1.VaultProvider{Server: f.vault.Addr,
			Auth: vfv1alpha1.VaultAuth{TokenSecretRef: &vfv1alpha1.SecretKeySelector{Name: "vault-token", Key: "token", Namespace: tokenNamespace}}}}}
	}
	token := func(namespace string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "vault-token"}, StringData: map[string]string{"token": vaultdev.RootToken}}
	}
	if storeKind == vfv1alpha1.ClusterSecretStoreKind {
		operator.Create(b, env.Client, token(operator.Namespace),
			&vfv1alpha1.ClusterSecretStore{ObjectMeta: metav1.ObjectMeta{Name: "vault"}, Spec: fixtures.Declared(vault(operator.Namespace))})
		f.stores = 1
	}
	for i := range namespaces {
		ns := fmt.Sprintf("bench-%03d", i)
		f.namespaces = append(f.namespaces, ns)
		operator.Create(b, env.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		if storeKind == vfv1alpha1.SecretStoreKind {
			operator.Create(b, env.Client, token(ns), &vfv1alpha1.SecretStore{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vault"}, Spec: vault("")})
			f.stores++
		}
	}
	if f.binary, err = operator.BuildBinary(ctx, b.TempDir()); err != nil {
		b.Fatal(err)
	}
	return f
}

// createExternalSecrets creates n ExternalSecrets, number i in namespace
// i mod M reading key i mod K, and returns how many distinct (store, key)
// pairs they read.
func (f *fixture) createExternalSecrets(b *testing.B, prefix string, n, keys int, refresh time.Duration) int {
	b.Helper()
	pairs := map[string]bool{}
	for i := range n {
		ns, key := f.namespaces[i%len(f.namespaces)], fmt.Sprintf("bench/%d", i%keys)
		operator.Create(b, f.env.Client, fixtures.ExternalSecret(ns, fmt.Sprintf("%s-%d", prefix, i), fixtures.WithRefresh(refresh),
			fixtures.WithStore(f.storeKind, "vault"), fixtures.WithData("password", key, "password")))
		if f.storeKind == vfv1alpha1.ClusterSecretStoreKind {
			ns = ""
		}
		pairs[ns+"/"+key] = true
	}
	return len(pairs)
}

func (f *fixture) createUnrelatedSecrets(b *testing.B, n int) {
	b.Helper()
	payload := strings.Repeat("u", 10*1024)
	for i := range n {
		operator.Create(b, f.env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.namespaces[i%len(f.namespaces)], Name: fmt.Sprintf("unrelated-%d", i)},
			StringData: map[string]string{"blob": payload}})
	}
}

func (f *fixture) startOperator(b *testing.B, flags string) *operator.Process {
	b.Helper()
	proc, err := operator.StartBinary(context.Background(), f.binary, f.env.Kubeconfig, nil, strings.Fields(flags)...)
	if err != nil {
		b.Fatal(err)
	}
	if path := os.Getenv("BENCH_OPERATOR_LOG"); path != "" {
		go recordRSS(proc.PID(), path+".rss")
		if addr := os.Getenv("BENCH_PPROF"); addr != "" {
			go func() { // the first seconds: the cold sync
				if cpu, err := fetch("http://" + addr + "/debug/pprof/profile?seconds=8"); err == nil {
					_ = os.WriteFile(path+".cpu", cpu, 0o600)
				}
			}()
		}
	}
	return proc
}

// refreshCycle waits until every ExternalSecret has refreshed once more and
// returns how long that took and the syncs, provider reads and Vault reads
// it cost.
func (f *fixture) refreshCycle(b *testing.B, proc *operator.Process, n int) (seconds, syncs, providerReads float64, vaultReads int) {
	b.Helper()
	// The last-sync gauge has whole seconds: start the cycle on one, so that
	// "refreshed at or after the start" is exact. (status.refreshTime does not
	// move on a refresh that changes nothing.)
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	start := time.Now()
	before := operatorMetrics(b, proc)
	vault0 := f.vault.Requests(b, "secret/data/bench/")
	deadline := time.Now().Add(10 * time.Minute)
	for {
		after := operatorMetrics(b, proc)
		if countAtLeast(after, "vaultferry_externalsecret_last_sync_timestamp_seconds{", float64(start.Unix())) >= n {
			return time.Since(start).Seconds(),
				sumMetric(after, "vaultferry_sync_total{") - sumMetric(before, "vaultferry_sync_total{"),
				sumMetric(after, "vaultferry_provider_requests_total{", `operation="GetSecret"`) -
					sumMetric(before, "vaultferry_provider_requests_total{", `operation="GetSecret"`),
				f.vault.Requests(b, "secret/data/bench/") - vault0
		}
		if time.Now().After(deadline) {
			b.Fatalf("not every ExternalSecret refreshed within 10 minutes")
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func waitAllReady(b *testing.B, env *testenv.Env, n int) {
	b.Helper()
	waitAll(b, env, n, "Ready", isReady)
}

// waitAll waits until n ExternalSecrets pass check: one list, then a watch
// (relisting when it ends). Polling with lists instead would cost the API
// server a third of its CPU at 1000 ExternalSecrets (a CRD list is decoded
// from etcd object by object) and so slow down what is measured.
func waitAll(b *testing.B, env *testenv.Env, n int, what string, check func(*vfv1alpha1.ExternalSecret) bool) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	for ctx.Err() == nil {
		list := &vfv1alpha1.ExternalSecretList{}
		if err := wc.List(ctx, list); err != nil {
			b.Fatal(err)
		}
		passed := map[types.UID]bool{}
		for i := range list.Items {
			passed[list.Items[i].UID] = check(&list.Items[i])
		}
		if countTrue(passed) >= n {
			return
		}
		w, err := wc.Watch(ctx, &vfv1alpha1.ExternalSecretList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if err != nil {
			b.Fatal(err)
		}
		for ev := range w.ResultChan() {
			es, ok := ev.Object.(*vfv1alpha1.ExternalSecret)
			if !ok { // an error (the watch expired): list again
				break
			}
			passed[es.UID] = ev.Type != watch.Deleted && check(es)
			if countTrue(passed) >= n {
				w.Stop()
				return
			}
		}
		w.Stop()
	}
	b.Fatalf("not all %d ExternalSecrets %s within 20 minutes", n, what)
}

func countTrue[K comparable](m map[K]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

func waitReady(b *testing.B, c client.Client, es *vfv1alpha1.ExternalSecret, limit time.Duration) {
	b.Helper()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(es), es); err != nil {
			b.Fatal(err)
		}
		if isReady(es) {
			return
		}
	}
	b.Fatalf("ExternalSecret %s/%s not Ready within %v", es.Namespace, es.Name, limit)
}

func isReady(es *vfv1alpha1.ExternalSecret) bool {
	return apimeta.IsStatusConditionTrue(es.Status.Conditions, vfv1alpha1.ReadyCondition)
}

// rawWrites times the writes a cold sync of the n ExternalSecrets named
// prefix-i needs, made directly: a Secret each (deleted again, untimed) and
// a status patch each (a templateSources entry the first sync replaces),
// 16 clients in parallel without client-side rate limiting.
func (f *fixture) rawWrites(b *testing.B, prefix string, n int) float64 {
	b.Helper()
	cfg := rest.CopyConfig(f.env.Config)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	work := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Int64
	start := time.Now()
	for range 16 {
		wg.Go(func() {
			for i := range work {
				ns := f.namespaces[i%len(f.namespaces)]
				s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("raw-%d", i), Labels: map[string]string{"bench-raw": "true"}},
					Data: map[string][]byte{"password": []byte("p")}}
				es := &vfv1alpha1.ExternalSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%d", prefix, i)}}
				patch := client.RawPatch(types.MergePatchType, []byte(`{"status":{"templateSources":{"raw/bench":"1"}}}`))
				if c.Create(ctx, s) != nil || c.Status().Patch(ctx, es, patch) != nil {
					failed.Add(1)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	took := time.Since(start).Seconds()
	if failed.Load() > 0 {
		b.Fatalf("%d raw writes failed", failed.Load())
	}
	for _, ns := range f.namespaces {
		if err := c.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(ns), client.MatchingLabels{"bench-raw": "true"}); err != nil {
			b.Fatal(err)
		}
	}
	return took
}

// keepDiagnostics writes the operator's log to path (nothing when empty),
// and its /proc status, smaps, the scrape and, from pprofAddr (when set), its
// heap profile next to it.
func keepDiagnostics(b *testing.B, proc *operator.Process, path, pprofAddr, scrape string) {
	b.Helper()
	if path == "" {
		return
	}
	files := map[string]string{path: proc.Logs(), path + ".metrics": scrape}
	for _, name := range []string{"status", "smaps"} {
		text, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", proc.PID(), name))
		if err != nil {
			b.Fatal(err)
		}
		files[path+"."+name] = string(text)
	}
	if pprofAddr != "" {
		for suffix, profile := range map[string]string{".heap": "heap", ".goroutines": "goroutine?debug=1"} {
			data, err := fetch("http://" + pprofAddr + "/debug/pprof/" + profile)
			if err != nil {
				b.Fatalf("reading the %s profile: %v", profile, err)
			}
			files[path+suffix] = string(data)
		}
	}
	for file, text := range files {
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			b.Fatal(err)
		}
	}
}

// fetch GETs url's body, which must come with 200 OK.
func fetch(url string) ([]byte, error) {
	resp, err := http.Get(url) //nolint:gosec,noctx // the operator's pprof endpoint on localhost, for diagnosis
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return data, err
}

// recordRSS appends "seconds anonymous-KiB file-KiB" of pid's resident
// memory to path every 50 ms until the process ends: where the peak is.
func recordRSS(pid int, path string) {
	out, err := os.Create(path)
	if err != nil {
		return
	}
	defer func() { _ = out.Close() }()
	start := time.Now()
	for {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return
		}
		fields := map[string]string{}
		for _, line := range strings.Split(string(status), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok {
				fields[name] = strings.TrimSuffix(strings.TrimSpace(value), " kB")
			}
		}
		_, _ = fmt.Fprintf(out, "%.2f %s %s\n", time.Since(start).Seconds(), fields["RssAnon"], fields["RssFile"])
		time.Sleep(50 * time.Millisecond)
	}
}

// profileAPIServer writes a 5 s CPU profile of kube-apiserver to path (none
// when empty), in the background; the channel closes when it is written.
func (f *fixture) profileAPIServer(b *testing.B, path string) <-chan struct{} {
	done := make(chan struct{})
	if path == "" {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		out, err := exec.Command(filepath.Join(testenv.Assets(), "kubectl"), "--kubeconfig", f.env.Kubeconfig,
			"get", "--raw", "/debug/pprof/profile?seconds=5").Output()
		if err == nil {
			err = os.WriteFile(path, out, 0o600)
		}
		if err != nil {
			b.Errorf("profiling kube-apiserver: %v", err)
		}
	}()
	return done
}

// seriesValues are the values of the series in Prometheus text exposition
// whose line starts with prefix (name and opening brace) and satisfies keep.
func seriesValues(text, prefix string, keep func(line string) bool) []float64 {
	var values []float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, prefix) || !keep(line) {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		values = append(values, v)
	}
	return values
}

func operatorMetrics(b *testing.B, proc *operator.Process) string {
	b.Helper()
	text, err := proc.Metrics()
	if err != nil {
		b.Fatal(err)
	}
	return text
}

// sumMetric sums the series of a metric in a scrape that carry all labels.
func sumMetric(scrape, prefix string, labels ...string) float64 {
	sum := 0.0
	for _, v := range seriesValues(scrape, prefix, func(line string) bool {
		return !slices.ContainsFunc(labels, func(l string) bool { return !strings.Contains(line, l) })
	}) {
		sum += v
	}
	return sum
}

// countAtLeast counts the series of a metric in a scrape whose value is at least min.
func countAtLeast(scrape, prefix string, min float64) int {
	n := 0
	for _, v := range seriesValues(scrape, prefix, func(string) bool { return true }) {
		if v >= min {
			n++
		}
	}
	return n
}

// apiServerWrites is the API server's count of write requests so far, from
// its own metrics, by "VERB resource" (and subresource).
func apiServerWrites(b *testing.B, env *testenv.Env) map[string]float64 {
	b.Helper()
	text, err := env.Kubectl(context.Background(), "get", "--raw", "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	label := func(line, name string) string {
		m := regexp.MustCompile(name + `="([^"]*)"`).FindStringSubmatch(line)
		if m == nil {
			return ""
		}
		return m[1]
	}
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		verb := label(line, "verb")
		if !strings.HasPrefix(line, "apiserver_request_total{") || (verb != "POST" && verb != "PUT" && verb != "PATCH" && verb != "DELETE") {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		key := strings.TrimSuffix(verb+" "+label(line, "resource")+"/"+label(line, "subresource"), "/")
		out[key] += v
	}
	return out
}

// writesSince is the writes counted after before, by kind, and their sum.
func writesSince(before, after map[string]float64) (map[string]float64, float64) {
	delta, sum := map[string]float64{}, 0.0
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			delta[k] = d
			sum += d
		}
	}
	return delta, sum
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

// report prints rows as a Markdown table and writes result as JSON to bin/file.
func report(b *testing.B, file string, result any, rows [][2]string) {
	b.Helper()
	var table strings.Builder
	table.WriteString("\n| measure | value |\n|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&table, "| %s | %s |\n", r[0], r[1])
	}
	fmt.Println(table.String())
	out, _ := json.MarshalIndent(result, "", "  ")
	fmt.Println(string(out))
	if err := os.WriteFile(filepath.Join(testenv.RepoRoot(), "bin", file), out, 0o600); err != nil {
		b.Error(err)
	}
}

func envInt(name string, fallback int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return fallback
}

func envString(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
