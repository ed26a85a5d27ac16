package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// PodAdmission is what BenchmarkPodAdmission measures: how long creating a
// Pod takes on the API server with the stable-reference policies, which are
// evaluated once per ExternalSecret of the Pod's namespace.
type PodAdmission struct {
	Pods            int            `json:"pods"`
	ExternalSecrets int            `json:"externalSecrets"`
	Latency         []LatencyGroup `json:"latency"`
	P99Ratio        float64        `json:"p99RatioManyToBaseline"`
}

// LatencyGroup is the Pod-creation latency of one setup, in milliseconds.
type LatencyGroup struct {
	Setup string  `json:"setup"`
	P50   float64 `json:"p50Millis"`
	P99   float64 `json:"p99Millis"`
	Max   float64 `json:"maxMillis"`
}

func BenchmarkPodAdmission(b *testing.B) {
	ctrllog.SetLogger(logr.Discard())
	ctx := context.Background()
	res := PodAdmission{Pods: envInt("BENCH_PODS", 300), ExternalSecrets: envInt("BENCH_ADMISSION_ES", 200)}
	env, err := testenv.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = env.Stop() })

	// measure creates Pods in the setups in turn, so that the machine's
	// noise falls on all of them alike.
	measure := func(setups ...admissionSetup) []LatencyGroup {
		took := make([][]float64, len(setups))
		for i := range res.Pods {
			for k, setup := range setups {
				pod := fixtures.PodUsingSecrets(setup.namespace, fmt.Sprintf("pod-%s-%d", setup.secret, i), setup.secret, "unrelated")
				start := time.Now()
				operator.Create(b, env.Client, pod)
				took[k] = append(took[k], float64(time.Since(start).Microseconds())/1000)
			}
		}
		groups := make([]LatencyGroup, len(setups))
		for k, t := range took {
			slices.Sort(t)
			groups[k] = LatencyGroup{Setup: setups[k].name, P50: t[len(t)/2], P99: t[len(t)*99/100], Max: t[len(t)-1]}
		}
		return groups
	}
	namespace := func(externalSecrets int) string {
		ns := fmt.Sprintf("admission-%d-%d", externalSecrets, time.Now().UnixNano())
		if _, err := env.Kubectl(ctx, "create", "namespace", ns); err != nil {
			b.Fatal(err)
		}
		for i := range externalSecrets {
			es := fixtures.ExternalSecret(ns, fmt.Sprintf("es-%d", i), fixtures.WithTarget(fmt.Sprintf("target-%d", i)))
			operator.Create(b, env.Client, es)
			if err := env.SetSynced(ctx, es, fmt.Sprintf("target-%d-abcdefghij", i)); err != nil {
				b.Fatal(err)
			}
		}
		return ns
	}

	b.ResetTimer()
	res.Latency = append(res.Latency, measure(admissionSetup{"no policies installed", namespace(0), "target-0"})...)
	if err := env.InstallStableReferences(ctx); err != nil {
		b.Fatal(err)
	}
	if err := operator.RunTargetIndex(env); err != nil { // writes the policies' parameter, as the operator does
		b.Fatal(err)
	}
	many := namespace(res.ExternalSecrets)
	res.Latency = append(res.Latency, measure(
		admissionSetup{"policies, 0 ExternalSecrets in the namespace (baseline)", namespace(0), "target-0"},
		admissionSetup{fmt.Sprintf("policies, %d ExternalSecrets, Pod names one target", res.ExternalSecrets), many, fmt.Sprintf("target-%d", res.ExternalSecrets/2)},
		admissionSetup{fmt.Sprintf("policies, %d ExternalSecrets, Pod names none", res.ExternalSecrets), many, "unrelated-2"},
	)...)
	b.StopTimer()
	res.P99Ratio = res.Latency[2].P99 / res.Latency[1].P99

	rows := [][2]string{{"Pods created per setup", fmt.Sprintf("%d", res.Pods)}}
	for _, l := range res.Latency {
		rows = append(rows, [2]string{l.Setup, fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", l.P50, l.P99, l.Max)})
	}
	rows = append(rows, [2]string{fmt.Sprintf("p99 with %d ExternalSecrets / baseline p99", res.ExternalSecrets), fmt.Sprintf("%.2f× (added %.1f ms)", res.P99Ratio, res.Latency[2].P99-res.Latency[1].P99)})
	report(b, "bench-admission.json", res, rows)
}

type admissionSetup struct {
	name, namespace, secret string
}
