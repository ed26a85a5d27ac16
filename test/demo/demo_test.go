package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// The demo is what a new user runs first; it must keep working. It also
// proves the operator binary starts against the envtest API server.
func TestDemoRunsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and the operator binary")
	}
	bin, err := operator.BuildBinary(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// As KEEP=1 runs it: kept running until Ctrl-C (here: once it says so).
	out := &testenv.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil && !strings.Contains(out.String(), "Still running") {
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
	}()
	if err := Run(ctx, out, bin, true); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	text := out.String()
	logPath := regexp.MustCompile(`tail -f (\S+)   # the operator's log`).FindStringSubmatch(text)
	if logPath == nil {
		t.Error("the kept demo does not say where the operator's log is")
	} else if b, err := os.ReadFile(logPath[1]); err != nil || !strings.Contains(string(b), "Starting") {
		t.Errorf("the operator's log at %s: %v, %d bytes without the operator's start", logPath[1], err, len(b))
	} else {
		_ = os.Remove(logPath[1])
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`payments\s+db-credentials-[a-z0-9]{10}\s+db-credentials\s+1\s+true`),
		regexp.MustCompile(`payments\s+db-credentials-[a-z0-9]{10}\s+db-credentials\s+2\s+true`),
		regexp.MustCompile(`checkout\s+stripe-[a-z0-9]{10}\s+stripe\s+1\s+true`),
		regexp.MustCompile(`payments\s+stripe-[a-z0-9]{10}\s+stripe\s+1\s+true`),
		// The ClusterExternalSecret's ExternalSecret in each tenant namespace, with that tenant's key only.
		regexp.MustCompile(`checkout\s+stripe-keys-[a-z0-9]{10}\s+stripe-keys\s+1\s+true`),
		regexp.MustCompile(`payments\s+stripe-keys-[a-z0-9]{10}\s+stripe-keys\s+1\s+true`),
		regexp.MustCompile(`stripe-keys\s+shared-vault\s+True\s+Provisioned`),
		regexp.MustCompile(`vaultferry_clusterexternalsecret_namespaces\{name="stripe-keys",state="provisioned"\} 2`),
		regexp.MustCompile(`postgres://payments:demo-password-1@db\.payments\.svc:5432/payments`),
		// The Deployment from Git: Pods admitted on versions, one rollout pinned to the new one.
		regexp.MustCompile(`web-[a-z0-9]+-[a-z0-9]+\s+(db-credentials-[a-z0-9]{10})\s+(db-credentials-[a-z0-9]{10})\s+Pending`),
		regexp.MustCompile(`web-[a-z0-9]+\s+2\s+db-credentials-[a-z0-9]{10}\s+`),
		regexp.MustCompile(`\(kubectl diff: no differences\)`),
		regexp.MustCompile(`(?m)^0 warning events$`),
		regexp.MustCompile(`Reason:\s+Synced`), // kubectl describe
		regexp.MustCompile(`vaultferry_externalsecret_ready\{name="db-credentials",namespace="payments",reason="Synced"\} 1`),
		regexp.MustCompile(`vaultferry_externalsecret_versions\{name="db-credentials",namespace="payments"\} 2`),
		regexp.MustCompile(`vaultferry_sync_total\{name="stripe",namespace="checkout",result="Synced"\} [1-9]`), // more with refreshes while the demo runs
		regexp.MustCompile(`vaultferry_secretstore_ready\{kind="ClusterSecretStore",name="shared-vault",namespace=""\} 1`),
		regexp.MustCompile(`vaultferry_provider_requests_total\{operation="GetSecret",provider="fake",result="Success",store="payments/payments-vault",store_kind="SecretStore"\} [1-9]`),
	} {
		if !want.MatchString(text) {
			t.Errorf("demo output lacks %s", want)
		}
	}
	if !strings.Contains(text, "Demo complete") {
		t.Errorf("demo did not complete")
	}
	if t.Failed() {
		t.Log(text)
	}
}
