// Command vaultferry runs the operator: it syncs ExternalSecrets from the
// vaults their stores point at into versioned, immutable Secrets.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vaultferry/vaultferry/apis/convert"
	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/controllers/externalsecret"
	"github.com/vaultferry/vaultferry/controllers/metrics"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/awssm"
	"github.com/vaultferry/vaultferry/providers/azurekv"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/providers/vault"
)

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Set at build time with -ldflags "-X main.version=... -X main.commit=... -X main.date=..."
// (make build, make image, the Dockerfile).
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

type options struct {
	controllers.Config
	enableFake    bool
	metricsAddr   string
	metricsSecure bool
	// metricsCertDir holds tls.crt and tls.key for the metrics endpoint
	// (a cert-manager Certificate's Secret); empty: a self-signed one.
	metricsCertDir string
	kubeQPS        float64
	kubeBurst      int
	// readCoalescingWindow is the flag; 0 there means "none", which
	// Config spells NoReadCoalescingWindow.
	readCoalescingWindow time.Duration
	probeAddr            string
	pprofAddr            string
	leaderElect          bool
	zap                  zap.Options
}

// defaultGCPercent is the operator's GOGC unless the environment sets one.
const defaultGCPercent = 50

func main() {
	if len(os.Args) > 1 && os.Args[1] == "convert" {
		os.Exit(convert.Main(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	opts := parseFlags()
	ctrl.SetLogger(newLogger(opts.zap))
	if os.Getenv("GOGC") == "" {
		// The operator's live heap is small, so Go's default (collect when the
		// heap doubles) makes garbage a third of its resident memory: at 50,
		// a cold sync of 1000 ExternalSecrets peaks at 57-59 MiB instead of
		// 60-62 for ~15% more operator CPU (make bench). GOGC in the
		// environment still wins.
		debug.SetGCPercent(defaultGCPercent)
	}
	if err := run(ctrl.SetupSignalHandler(), opts); err != nil {
		ctrl.Log.Error(err, "vaultferry stopped")
		os.Exit(1)
	}
}

// usage is the operator's help: how to run it, and the convert command.
func usage() {
	out := flag.CommandLine.Output()
	fmt.Fprintln(out, "Usage: vaultferry [flags]            run the operator")
	fmt.Fprintln(out, "       vaultferry convert [--help] ...  convert External Secrets Operator manifests to vaultferry's")
	fmt.Fprintln(out, "\nFlags:")
	flag.PrintDefaults()
}

func parseFlags() options {
	var o options
	defaultNS := os.Getenv("POD_NAMESPACE")
	if defaultNS == "" {
		defaultNS = "vaultferry-system"
	}
	flag.StringVar(&o.Namespace, "namespace", defaultNS, "Namespace the operator runs in; holds its hash key Secret and leader-election lease (default: $POD_NAMESPACE, else vaultferry-system).")
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.StringVar(&o.pprofAddr, "pprof-bind-address", "", "Address of Go's /debug/pprof profiles (empty: off). For diagnosis only: bind it to localhost.")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader, so that only one replica reconciles at a time.")
	flag.IntVar(&o.SyncConcurrency, "concurrency", 10, "ExternalSecrets synced in parallel (the work is I/O: vault and API server round trips).")
	flag.IntVar(&o.StoreConcurrency, "store-concurrency", 2, "Stores validated in parallel, per kind.")
	flag.StringVar(&o.ClusterStoreCredentialsNamespace, "cluster-store-credentials-namespace", "", "The only namespace ClusterSecretStores may read credential Secrets and ConfigMaps from (any, when empty).")
	flag.BoolVar(&o.AllowOperatorIdentity, "allow-operator-identity-for-cluster-stores", false, "Let ClusterSecretStores authenticate as the operator itself: its ServiceAccount token (Vault Kubernetes auth without serviceAccountRef), its AWS default credential chain (aws without auth), its Azure managed identity. Namespaced SecretStores never may.")
	flag.Func("allowed-store-endpoints", "Comma-separated URL patterns (scheme://host[:port], '*' for one DNS label, e.g. https://*.vault.example.com) that namespaced SecretStores may connect to (any, when unset). Pair it with a NetworkPolicy on the operator.", func(v string) error {
		policy, err := providers.ParseEndpointPolicy(strings.Split(v, ","))
		o.StoreEndpoints = policy
		return err
	})
	flag.BoolVar(&o.DisableClusterStores, "disable-cluster-stores", false, "Ignore ClusterSecretStores and refuse ExternalSecrets that use one.")
	flag.Func("watch-namespaces", "Comma-separated namespaces to serve (all, when unset); for sharding tenants across operator deployments.", func(v string) error {
		o.WatchNamespaces = strings.Split(v, ",")
		return nil
	})
	flag.Func("watch-label-selector", "Serve only namespaces whose labels match this selector, e.g. shard=a (all, when unset).", func(v string) error {
		sel, err := labels.Parse(v)
		o.WatchLabelSelector = sel
		return err
	})
	flag.DurationVar(&o.MinRefreshInterval, "min-refresh-interval", 10*time.Second, "The shortest refreshInterval any ExternalSecret gets; shorter ones are raised to it (a ClusterSecretStore's minRefreshInterval can raise it further). 0: none.")
	flag.StringVar(&o.StableReferences, "stable-references", controllers.StableReferencesAuto, "How workloads reach new versions: admission (Pods naming an ExternalSecret's target.name get its pinned or current version from the vaultferry-stable-references admission policies; rollouts write version pins on pod templates), rewrite (rollout targets have references to older versions rewritten; for clusters before Kubernetes 1.36), or auto (admission when the cluster serves MutatingAdmissionPolicy and the policies are installed).")
	flag.DurationVar(&o.RolloutBatchWindow, "rollout-batch-window", externalsecret.DefaultRolloutBatchWindow, "How long a new version waits before workloads roll, so that a workload using several ExternalSecrets that rotate together rolls once.")
	flag.Float64Var(&o.GlobalQPS, "global-qps", 0, "Provider calls per second through all stores together (0: only the per-store limits).")
	flag.IntVar(&o.GlobalBurst, "global-burst", 100, "Burst of --global-qps.")
	flag.DurationVar(&o.readCoalescingWindow, "read-coalescing-window", providers.DefaultFreshnessWindow,
		"How long a value read through a store serves other ExternalSecrets of that store asking for the same key; never longer than their refresh interval, force-sync always reads fresh. 0: share only reads in flight.")
	flag.Float64Var(&o.kubeQPS, "kube-api-qps", 0, "Requests per second to the Kubernetes API server, per API group client; -1: no client-side limit; 0: none when the API server has API Priority and Fairness, else 200.")
	flag.IntVar(&o.kubeBurst, "kube-api-burst", 0, "Burst of a positive --kube-api-qps.")
	flag.BoolVar(&o.enableFake, "enable-fake-provider", false, "Enable the fake provider, which serves the data written in the store's spec (demos and tests; keep it off in production).")
	showVersion := flag.Bool("version", false, "Print the version, commit and build date, and exit.")
	flag.BoolVar(&o.metricsSecure, "metrics-secure", false, "Serve metrics over HTTPS, authenticating and authorizing scrapers with TokenReview and SubjectAccessReview.")
	flag.StringVar(&o.metricsCertDir, "metrics-cert-dir", "", "With --metrics-secure, a directory holding tls.crt and tls.key (reloaded when they change) for the metrics endpoint; empty: a self-signed certificate.")
	o.zap.BindFlags(flag.CommandLine)
	flag.Usage = usage
	flag.Parse()
	if *showVersion {
		fmt.Printf("vaultferry %s (commit %s, built %s)\n", version, commit, date)
		os.Exit(0)
	}
	o.ReadCoalescingWindow = o.readCoalescingWindow
	if o.readCoalescingWindow <= 0 {
		o.ReadCoalescingWindow = controllers.NoReadCoalescingWindow
	}
	return o
}

func run(ctx context.Context, o options) error {
	controllers.PreferListThenWatch()
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	limit, err := controllers.ClientRateLimit(ctx, cfg, float32(o.kubeQPS), o.kubeBurst)
	if err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("Kubernetes API client-side rate limit", "limit", limit)
	// client-go's scheme already holds every built-in kind (controller-runtime
	// imports it); a fresh copy of it would be a second megabyte of heap.
	scheme := clientgoscheme.Scheme
	if err := vfv1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	served := metrics.NewServed(crmetrics.Registry)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOptions(o, served),
		HealthProbeBindAddress:  o.probeAddr,
		PprofBindAddress:        o.pprofAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "vaultferry.io",
		LeaderElectionNamespace: o.Namespace,
		Cache:                   controllers.CacheOptions(o.WatchNamespaces...),
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	enabled := []providers.Provider{vault.New(), awssm.New(), azurekv.New()}
	if o.enableFake {
		enabled = append(enabled, fake.New())
	}
	o.Registry = providers.MustNewRegistry(enabled...)
	o.Metrics = served
	if err := controllers.Setup(ctx, mgr, o.Config); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.Info("Starting vaultferry", "namespace", o.Namespace, "providers", o.Registry.Names())
	return mgr.Start(ctx)
}

// metricsOptions serves metrics over HTTPS with authentication and
// authorization when --metrics-secure is set, as kubebuilder's scaffold does:
// a scraper needs a token allowed to get the /metrics non-resource URL.
func metricsOptions(o options, served *metrics.Metrics) metricsserver.Options {
	var auth metrics.FilterProvider
	if o.metricsSecure {
		auth = metrics.WithTokenReviewAuth
	}
	return metricsserver.Options{BindAddress: o.metricsAddr, SecureServing: o.metricsSecure, FilterProvider: served.Exposition(auth),
		CertDir: o.metricsCertDir, CertName: "tls.crt", KeyName: "tls.key"}
}
