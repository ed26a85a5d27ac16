package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
	"github.com/vaultferry/vaultferry/test/vaultdev"
)

var (
	binaryOnce sync.Once
	binary     string
	binaryErr  error
)

// operatorBinary builds cmd/vaultferry once for the package.
func operatorBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			binaryErr = err
			return
		}
		binary, binaryErr = operator.BuildBinary(context.Background(), dir)
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binary
}

// startOperator runs the binary; it is stopped at the end of the test.
func startOperator(t *testing.T, args ...string) *operator.Process {
	t.Helper()
	ctx := context.Background()
	if out, err := env.Kubectl(ctx, "create", "namespace", operator.Namespace); err != nil && !strings.Contains(out, "AlreadyExists") {
		t.Fatalf("%v: %s", err, out)
	}
	p, err := operator.StartBinary(ctx, operatorBinary(t), env.Kubeconfig, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// vaultSetup starts Vault and a token SecretStore "vault" in a fresh namespace.
func vaultSetup(t *testing.T) (*vaultdev.Server, string) {
	t.Helper()
	v := vaultdev.Start(t)
	ns := env.Namespace(t, nil)
	token := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vault-token"}, StringData: map[string]string{"token": vaultdev.RootToken}}
	store := &vfv1alpha1.SecretStore{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vault"},
		Spec: vfv1alpha1.SecretStoreSpec{
			RateLimit: &vfv1alpha1.RateLimit{QPS: 500, Burst: 500},
			Provider: vfv1alpha1.SecretStoreProvider{Vault: &vfv1alpha1.VaultProvider{Server: v.Addr,
				Auth: vfv1alpha1.VaultAuth{TokenSecretRef: &vfv1alpha1.SecretKeySelector{Name: "vault-token", Key: "token"}}}}}}
	operator.Create(t, env.Client, token, store)
	return v, ns
}

func vaultES(ns, name, key string) *vfv1alpha1.ExternalSecret {
	return fixtures.ExternalSecret(ns, name, fixtures.WithStore(vfv1alpha1.SecretStoreKind, "vault"), fixtures.WithData("password", key, "password"))
}

// managed maps each managed Secret of ns to "<ExternalSecret>|<resourceVersion>|<data>".
func managed(t *testing.T, ns string) map[string]string {
	t.Helper()
	list := &corev1.SecretList{}
	if err := env.Client.List(context.Background(), list, client.InNamespace(ns), client.MatchingLabels{vfv1alpha1.ManagedLabel: "true"}); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range list.Items {
		out[s.Name] = fmt.Sprintf("%s|%s|%x", s.Labels[vfv1alpha1.ExternalSecretLabel], s.ResourceVersion, s.Data)
	}
	return out
}

// exactlyOneVersionEach checks the final state: every ExternalSecret is Ready
// on an existing version, has exactly one version, and no version is orphaned.
func exactlyOneVersionEach(t *testing.T, ns string, ess []*vfv1alpha1.ExternalSecret) {
	t.Helper()
	current := map[string]string{}
	for _, es := range ess {
		current[es.Name] = operator.WaitSynced(t, env.Client, es, "").Status.CurrentSecretName
	}
	perES := map[string][]string{}
	for name, v := range managed(t, ns) {
		owner := strings.Split(v, "|")[0]
		perES[owner] = append(perES[owner], name)
	}
	for _, es := range ess {
		if got := perES[es.Name]; len(got) != 1 || got[0] != current[es.Name] {
			t.Errorf("%s has versions %v, want exactly its current %s", es.Name, got, current[es.Name])
		}
		delete(perES, es.Name)
	}
	if len(perES) != 0 {
		t.Errorf("orphaned versions of unknown ExternalSecrets: %v", perES)
	}
}

func TestVaultOutageKeepsEverythingAndRecovers(t *testing.T) {
	testenv.Require(t, env)
	v, ns := vaultSetup(t)
	startOperator(t)
	ess := make([]*vfv1alpha1.ExternalSecret, 5)
	for i := range ess {
		v.PutKV(t, fmt.Sprintf("outage/%d", i), map[string]any{"password": fmt.Sprintf("value-%d", i)})
		ess[i] = vaultES(ns, fmt.Sprintf("app-%d", i), fmt.Sprintf("outage/%d", i))
		ess[i].Spec.RefreshInterval = &metav1.Duration{Duration: 2 * time.Second}
		operator.Create(t, env.Client, ess[i])
	}
	for _, es := range ess {
		operator.WaitSynced(t, env.Client, es, "")
	}
	before := managed(t, ns)

	v.Pause(t)
	for _, es := range ess {
		operator.WaitForReason(t, env.Client, es, metav1.ConditionFalse, vfv1alpha1.UnavailableReason)
	}
	if during := managed(t, ns); fmt.Sprint(during) != fmt.Sprint(before) {
		t.Fatalf("versions changed during the outage:\nbefore %v\nduring %v", before, during)
	}
	v.Resume(t)
	recovered := time.Now()
	for _, es := range ess {
		operator.WaitFor(t, env.Client, es, "Ready again", func(es *vfv1alpha1.ExternalSecret) bool {
			return operator.HasReason(es.Status.Conditions, metav1.ConditionTrue, vfv1alpha1.SyncedReason)
		})
	}
	t.Logf("all Ready %v after Vault came back", time.Since(recovered).Round(100*time.Millisecond))
	after := managed(t, ns)
	if len(after) != len(before) {
		t.Errorf("%d versions after the outage, want %d (no duplicates)", len(after), len(before))
	}
	for name, v := range before {
		if strings.Split(after[name], "|")[2] != strings.Split(v, "|")[2] {
			t.Errorf("version %s changed", name)
		}
	}
}

func TestSIGKILLDuringInitialSyncLosesNothing(t *testing.T) {
	testenv.Require(t, env)
	const count, keys = 500, 50
	v, ns := vaultSetup(t)
	for k := range keys {
		v.PutKV(t, fmt.Sprintf("bulk/%d", k), map[string]any{"password": fmt.Sprintf("bulk-%d", k)})
	}
	ess := make([]*vfv1alpha1.ExternalSecret, count)
	for i := range ess {
		ess[i] = vaultES(ns, fmt.Sprintf("bulk-%d", i), fmt.Sprintf("bulk/%d", i%keys))
		operator.Create(t, env.Client, ess[i])
	}
	for round := range 5 {
		p := startOperator(t)
		time.Sleep(time.Duration(200+rand.IntN(1500)) * time.Millisecond)
		p.Kill()
		t.Logf("round %d: killed with %d versions written", round, len(managed(t, ns)))
	}
	startOperator(t)
	exactlyOneVersionEach(t, ns, ess)
}

func TestSourceChangedWhileDownIsPickedUp(t *testing.T) {
	testenv.Require(t, env)
	v, ns := vaultSetup(t)
	v.PutKV(t, "down/db", map[string]any{"password": "before"})
	es := vaultES(ns, "app", "down/db")
	es.Spec.RefreshInterval = &metav1.Duration{Duration: 3 * time.Second}
	p := startOperator(t)
	operator.Create(t, env.Client, es)
	first := operator.WaitSynced(t, env.Client, es, "").Status.CurrentSecretName
	p.Stop()
	v.PutKV(t, "down/db", map[string]any{"password": "changed-while-down"})
	startOperator(t)
	next := operator.WaitFor(t, env.Client, es, "a new version", func(es *vfv1alpha1.ExternalSecret) bool {
		return es.Status.CurrentSecretName != first && es.Status.CurrentSecretName != ""
	}).Status.CurrentSecretName
	if got := string(operator.SecretData(t, env.Client, ns, next)["password"]); got != "changed-while-down" {
		t.Fatalf("after restart: %q", got)
	}
}

func TestLeaderFailover(t *testing.T) {
	testenv.Require(t, env)
	v, ns := vaultSetup(t)
	v.PutKV(t, "ha/db", map[string]any{"password": "ha"})
	a := startOperator(t, "--leader-elect")
	b := startOperator(t, "--leader-elect")
	first := fmt.Sprintf("ha-%d", 0)
	operator.Create(t, env.Client, vaultES(ns, first, "ha/db"))
	operator.WaitSynced(t, env.Client, vaultES(ns, first, "ha/db"), "")
	leader, follower := a, b
	if !strings.Contains(a.Logs(), "successfully acquired lease") {
		leader, follower = b, a
	}
	leader.Kill()
	ess := []*vfv1alpha1.ExternalSecret{vaultES(ns, first, "ha/db")}
	for i := 1; i <= 10; i++ {
		es := vaultES(ns, fmt.Sprintf("ha-%d", i), "ha/db")
		operator.Create(t, env.Client, es)
		ess = append(ess, es)
	}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(follower.Logs(), "successfully acquired lease") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	exactlyOneVersionEach(t, ns, ess)
}

func TestAPIServerRestart(t *testing.T) {
	testenv.Require(t, env)
	v, ns := vaultSetup(t)
	v.PutKV(t, "restart/db", map[string]any{"password": "one"})
	p := startOperator(t)
	es := vaultES(ns, "app", "restart/db")
	operator.Create(t, env.Client, es)
	first := operator.WaitSynced(t, env.Client, es, "").Status.CurrentSecretName
	if err := env.RestartAPIServer(); err != nil {
		t.Fatal(err)
	}
	v.PutKV(t, "restart/db", map[string]any{"password": "two"})
	operator.ForceSync(t, env.Client, es)
	next := operator.WaitSynced(t, env.Client, es, first).Status.CurrentSecretName
	if got := string(operator.SecretData(t, env.Client, ns, next)["password"]); got != "two" {
		t.Fatalf("after the API server restart: %q", got)
	}
	if strings.Contains(p.Logs(), "panic") {
		t.Errorf("the operator panicked")
	}
}

// Bad input at runtime: each gets a clear reason, nothing crashes, and a
// healthy ExternalSecret in the same namespace keeps syncing.
func TestBadInputAtRuntime(t *testing.T) {
	testenv.Require(t, env)
	p := startOperator(t)
	ns := env.Namespace(t, nil)
	huge := strings.Repeat("x", 1100*1024)
	store := fixtures.FakeStore(ns, "store", fixtures.FakeData(
		"plain", "not json at all",
		"binary", "\x00\xff\xfe binary \x01",
		"huge", huge,
		"good", `{"password":"g1"}`,
	)...)
	operator.Create(t, env.Client, store)
	cases := map[string]struct {
		es     *vfv1alpha1.ExternalSecret
		reason string
	}{
		"property of a non-JSON value": {fixtures.ExternalSecret(ns, "non-json", fixtures.WithData("password", "plain", "password")), vfv1alpha1.InvalidDataReason},
		"key that is not a Secret key": {fixtures.ExternalSecret(ns, "bad-key", fixtures.WithData("password", "good", "password"), fixtures.WithTemplate(map[string]string{"not a/valid key": "x"})), vfv1alpha1.InvalidDataReason},
		"value over the 1 MiB limit":   {fixtures.ExternalSecret(ns, "huge", fixtures.WithData("v", "huge", "")), vfv1alpha1.InvalidDataReason},
		"path traversal in the key":    {fixtures.ExternalSecret(ns, "traversal", fixtures.WithData("v", "../../etc/passwd", "")), vfv1alpha1.InvalidDataReason},
		"binary data in a template":    {fixtures.ExternalSecret(ns, "binary", fixtures.WithData("v", "binary", ""), fixtures.WithTemplate(map[string]string{"out": "{{ .v | b64enc }}"})), vfv1alpha1.SyncedReason},
	}
	good := fixtures.ExternalSecret(ns, "good", fixtures.WithData("password", "good", "password"))
	operator.Create(t, env.Client, good)
	for _, tc := range cases {
		operator.Create(t, env.Client, tc.es)
	}
	for name, tc := range cases {
		status := metav1.ConditionFalse
		if tc.reason == vfv1alpha1.SyncedReason {
			status = metav1.ConditionTrue
		}
		got := operator.WaitForReason(t, env.Client, tc.es, status, tc.reason)
		t.Logf("%s: %s", name, operator.Condition(got.Status.Conditions, vfv1alpha1.ReadyCondition).Message)
	}
	first := operator.WaitSynced(t, env.Client, good, "").Status.CurrentSecretName
	update := store.DeepCopy()
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(store), update); err != nil {
		t.Fatal(err)
	}
	update.Spec.Provider.Fake.Data[3].Value = `{"password":"g2"}`
	if err := env.Client.Update(context.Background(), update); err != nil {
		t.Fatal(err)
	}
	operator.ForceSync(t, env.Client, good)
	operator.WaitSynced(t, env.Client, good, first)
	if strings.Contains(p.Logs(), "panic") {
		t.Errorf("the operator panicked:\n%s", p.Logs())
	}
	if strings.Contains(p.Logs(), huge[:64]) {
		t.Errorf("a value leaked into the logs")
	}
}

// SIGTERM: the operator finishes in-flight work and exits cleanly well within
// the chart's terminationGracePeriod (30s).
func TestGracefulShutdown(t *testing.T) {
	testenv.Require(t, env)
	v, ns := vaultSetup(t)
	v.PutKV(t, "term/db", map[string]any{"password": "t"})
	p := startOperator(t)
	for i := range 50 {
		operator.Create(t, env.Client, vaultES(ns, fmt.Sprintf("term-%d", i), "term/db"))
	}
	time.Sleep(500 * time.Millisecond)
	took, err := p.Terminate(30 * time.Second)
	if err != nil {
		t.Fatalf("SIGTERM: %v after %v", err, took)
	}
	t.Logf("exited cleanly %v after SIGTERM", took.Round(10*time.Millisecond))
}
