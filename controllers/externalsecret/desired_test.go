package externalsecret

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
	"github.com/vaultferry/vaultferry/controllers/podrefs"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/testenv"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestDesiredSecret(t *testing.T) {
	values := map[string][]byte{"password": []byte("hunter2"), "user": []byte("app"), "doc": []byte(`{"a":1}`), "empty": {}}
	cases := map[string]struct {
		es         *vfv1alpha1.ExternalSecret
		wantData   map[string][]byte
		wantType   corev1.SecretType
		wantPrefix string
		immutable  bool
		reason     string
	}{
		"fetched data passes through to an immutable version named after the target": {
			es:         fixtures.ExternalSecret("ns", "db", fixtures.WithTarget("creds")),
			wantData:   values,
			wantType:   corev1.SecretTypeOpaque,
			wantPrefix: "creds-",
			immutable:  true,
		},
		"the target name defaults to the ExternalSecret name": {
			es:         fixtures.ExternalSecret("ns", "db"),
			wantData:   values,
			wantType:   corev1.SecretTypeOpaque,
			wantPrefix: "db-",
			immutable:  true,
		},
		"a template renders every function of the documented set": {
			es: fixtures.ExternalSecret("ns", "db", fixtures.WithTemplate(map[string]string{
				"dsn":   "postgres://{{ .user }}:{{ .password }}@db",
				"b64":   "{{ .password | b64enc }}",
				"round": `{{ "aHVudGVyMg==" | b64dec }}`,
				"json":  `{{ .user | toJson }}`,
				"field": `{{ (.doc | fromJson).a }}`,
				"case":  "{{ .user | upper }}{{ .user | upper | lower }}",
				"trim":  `{{ "  x  " | trim }}`,
				"dflt":  `{{ .empty | default "fallback" }}`,
			})),
			wantData: map[string][]byte{
				"dsn": []byte("postgres://app:hunter2@db"), "b64": []byte("aHVudGVyMg=="), "round": []byte("hunter2"),
				"json": []byte(`"app"`), "field": []byte("1"), "case": []byte("APPapp"), "trim": []byte("x"), "dflt": []byte("fallback"),
			},
			wantType:   corev1.SecretTypeOpaque,
			wantPrefix: "db-",
			immutable:  true,
		},
		"a mutable target keeps the plain name": {
			es:         fixtures.ExternalSecret("ns", "db", fixtures.WithMutableTarget()),
			wantData:   values,
			wantType:   corev1.SecretTypeOpaque,
			wantPrefix: "db",
		},
		"a template referencing an unfetched key is refused": {
			es:     fixtures.ExternalSecret("ns", "db", fixtures.WithTemplate(map[string]string{"x": "{{ .nope }}"})),
			reason: vfv1alpha1.InvalidTemplateReason,
		},
		"a key that is not a valid Secret key is refused": {
			es:     fixtures.ExternalSecret("ns", "db", fixtures.WithTemplate(map[string]string{"bad key!": "x"})),
			reason: vfv1alpha1.InvalidDataReason,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := desiredSecret(context.Background(), tc.es, fetched{Data: values}, templateSources{}, priorVersions{}, testKey)
			if tc.reason != "" {
				var re *requeue.Error
				if !errors.As(err, &re) || re.Reason != tc.reason || re.Kind != requeue.Stall {
					t.Fatalf("error = %v, want a stalled %s", err, tc.reason)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("error leaks the value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantData, got.Data); diff != "" {
				t.Errorf("data (-want +got):\n%s", diff)
			}
			if got.Type != tc.wantType || !strings.HasPrefix(got.Name, tc.wantPrefix) {
				t.Errorf("type %s name %s, want %s and prefix %s", got.Type, got.Name, tc.wantType, tc.wantPrefix)
			}
			if (got.Immutable != nil && *got.Immutable) != tc.immutable {
				t.Errorf("immutable = %v, want %v", got.Immutable, tc.immutable)
			}
			if !metav1.IsControlledBy(got, tc.es) || got.Labels[vfv1alpha1.ManagedLabel] != "true" {
				t.Errorf("missing owner or managed label: %+v", got.ObjectMeta)
			}
		})
	}
}

func TestContentHash(t *testing.T) {
	data := map[string][]byte{"a": []byte("1"), "b": []byte("2")}
	same := map[string][]byte{"b": []byte("2"), "a": []byte("1")}
	owner := versionOwner{"team-a", "db"}
	h := contentHash(testKey, owner, corev1.SecretTypeOpaque, data)
	if len(h) != hashLength || strings.ContainsAny(h, "013ae") {
		t.Fatalf("hash %q is not 10 characters of the DNS-safe alphabet", h)
	}
	cases := map[string]struct {
		other    string
		wantSame bool
	}{
		"same content in another order":          {contentHash(testKey, owner, corev1.SecretTypeOpaque, same), true},
		"another value":                          {contentHash(testKey, owner, corev1.SecretTypeOpaque, map[string][]byte{"a": []byte("1"), "b": []byte("3")}), false},
		"another type":                           {contentHash(testKey, owner, corev1.SecretTypeBasicAuth, data), false},
		"another key (operator install)":         {contentHash([]byte("another-key-another-key-32bytes!"), owner, corev1.SecretTypeOpaque, data), false},
		"same content in another namespace":      {contentHash(testKey, versionOwner{"team-b", "db"}, corev1.SecretTypeOpaque, data), false},
		"same content in another ExternalSecret": {contentHash(testKey, versionOwner{"team-a", "db2"}, corev1.SecretTypeOpaque, data), false},
		"namespace and name shifted":             {contentHash(testKey, versionOwner{"team-ad", "b"}, corev1.SecretTypeOpaque, data), false},
		"the 0.1 scheme":                         {legacyContentHash(testKey, corev1.SecretTypeOpaque, data), false},
	}
	for name, tc := range cases {
		if (tc.other == h) != tc.wantSame {
			t.Errorf("%s: hash %s vs %s, want same=%v", name, tc.other, h, tc.wantSame)
		}
	}
}

func TestVersionedNameFitsADNSName(t *testing.T) {
	long := strings.Repeat("a", 300)
	if got := versionedName(long, "abcdefghij"); len(got) > 253 {
		t.Fatalf("name of %d characters", len(got))
	}
	if got := versionedName("db", "5tg8952chh"); got != "db-5tg8952chh" {
		t.Fatalf("got %s", got)
	}
}

func TestPruneCandidates(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-ago)); return &t }
	v := func(name string, rev int64, superseded *metav1.Time) vfv1alpha1.SecretVersion {
		return vfv1alpha1.SecretVersion{Name: name, Revision: rev, SupersededAt: superseded}
	}
	versions := []vfv1alpha1.SecretVersion{v("v4", 4, nil), v("v3", 3, at(time.Minute)), v("v2", 2, at(2*time.Hour)), v("v1", 1, at(3*time.Hour))}
	cases := map[string]struct {
		current      string
		limit        int
		minRetention time.Duration
		want         []string
	}{
		"limit 3 keeps the current and two superseded": {"v4", 3, 0, []string{"v1"}},
		"limit 1 keeps only the current":               {"v4", 1, 0, []string{"v3", "v2", "v1"}},
		"minRetention keeps the recently superseded":   {"v4", 1, time.Hour, []string{"v2", "v1"}},
		"a reverted-to current is never pruned":        {"v1", 1, 0, []string{"v3", "v2"}},
		"a limit above the count prunes nothing":       {"v4", 10, 0, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := pruneCandidates(versions, tc.current, tc.limit, tc.minRetention, now)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNextRefresh(t *testing.T) {
	synced := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	es := func(every time.Duration) *vfv1alpha1.ExternalSecret {
		es := fixtures.ExternalSecret("ns", "db", fixtures.WithRefresh(every))
		es.UID = "3f1c9a52-0000-4000-8000-000000000001"
		es.Status.RefreshTime = &metav1.Time{Time: synced}
		return es
	}
	kube := clientfake.NewClientBuilder().WithScheme(testenv.Scheme()).Build() // no store: no store minimum
	at := func(now time.Time) *Reconciler {
		return &Reconciler{Client: kube, Now: func() time.Time { return now }}
	}
	ctx := context.Background()

	if got := at(synced).nextRefresh(ctx, es(0)); got.RequeueAfter != 0 {
		t.Errorf("refreshInterval 0 (fetch once) requeues after %v, want never", got.RequeueAfter)
	}
	first := at(synced).nextRefresh(ctx, es(time.Hour)).RequeueAfter
	if first < 54*time.Minute || first > 66*time.Minute {
		t.Fatalf("1h refresh scheduled after %v, want 1h ±10%%", first)
	}
	// Waking early (a jittered recheck, a restart) must not move the
	// deadline: the next wake-up lands on it.
	deadline := synced.Add(first)
	if got := at(deadline.Add(-time.Minute)).nextRefresh(ctx, es(time.Hour)).RequeueAfter; got != time.Minute {
		t.Errorf("a minute before the deadline the refresh is scheduled after %v, want exactly 1m", got)
	}
	// The deadline passing while the reconcile ran must still requeue.
	if got := at(deadline.Add(time.Nanosecond)).nextRefresh(ctx, es(time.Hour)); got.RequeueAfter <= 0 || got.Priority == nil {
		t.Errorf("just past the deadline nextRefresh = %+v, want a low-priority requeue soon", got)
	}
}

// The refresh interval is raised to the operator's minimum and the store's,
// whichever is larger; fetch-once stays fetch-once.
func TestRefreshEveryHonoursMinimums(t *testing.T) {
	store := fixtures.FakeStore("ns", "store")
	store.Spec.MinRefreshInterval = &metav1.Duration{Duration: 5 * time.Minute}
	kube := clientfake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(store).Build()
	cases := map[string]struct {
		every, operatorMin time.Duration
		storeName          string
		want               time.Duration
	}{
		"no minimum":                    {every: 10 * time.Millisecond, storeName: "none", want: 10 * time.Millisecond},
		"the operator's minimum":        {every: 10 * time.Millisecond, operatorMin: 30 * time.Second, storeName: "none", want: 30 * time.Second},
		"the store's minimum is larger": {every: 10 * time.Millisecond, operatorMin: 30 * time.Second, storeName: "store", want: 5 * time.Minute},
		"already above both":            {every: time.Hour, operatorMin: 30 * time.Second, storeName: "store", want: time.Hour},
		"fetch once stays":              {every: 0, operatorMin: 30 * time.Second, storeName: "store", want: 0},
	}
	for name, tc := range cases {
		r := &Reconciler{Client: kube, MinRefreshInterval: tc.operatorMin}
		es := fixtures.ExternalSecret("ns", "db", fixtures.WithRefresh(tc.every), fixtures.WithStore(vfv1alpha1.SecretStoreKind, tc.storeName))
		if got := r.refreshEvery(context.Background(), es); got != tc.want {
			t.Errorf("%s: refreshEvery = %v, want %v", name, got, tc.want)
		}
	}
}

// Every failure maps to one condition set and one requeue; only failures
// that can pass by themselves are returned as errors (backed off, logged).
func TestFailurePolicy(t *testing.T) {
	cause := errors.New("cause")
	cases := map[string]struct {
		failure     *requeue.Error
		wantAfter   time.Duration // 0: none
		wantErr     bool
		wantStalled bool
	}{
		"provider down: retry with backoff":               {failure: requeue.New(requeue.Retry, vfv1alpha1.UnavailableReason, cause), wantErr: true},
		"API server failure: retry with backoff":          {failure: requeue.New(requeue.Retry, vfv1alpha1.KubernetesAPIErrorReason, cause), wantErr: true},
		"store not ready: wait for it":                    {failure: requeue.New(requeue.Wait, vfv1alpha1.StoreNotReadyReason, cause), wantAfter: 30 * time.Second},
		"target conflict: recheck":                        {failure: requeue.New(requeue.Wait, vfv1alpha1.TargetConflictReason, cause), wantAfter: 30 * time.Second},
		"client-side rate limit: its own delay":           {failure: &requeue.Error{Kind: requeue.Wait, Reason: vfv1alpha1.ThrottledReason, Err: cause, After: 3 * time.Second}, wantAfter: 3 * time.Second},
		"store rate limit share used up: after its delay": {failure: &requeue.Error{Kind: requeue.Defer, Reason: vfv1alpha1.ThrottledReason, Err: cause, After: 5 * time.Second}, wantAfter: 6 * time.Second},
		"remote secret missing: refresh interval":         {failure: requeue.New(requeue.Later, vfv1alpha1.NotFoundReason, cause), wantAfter: 2 * time.Minute},
		"bad template: stalled, no retry":                 {failure: requeue.New(requeue.Stall, vfv1alpha1.InvalidTemplateReason, cause), wantStalled: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			result, err := failurePolicy(tc.failure, 2*time.Minute, 30*time.Second)
			if (err != nil) != tc.wantErr {
				t.Errorf("error = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantAfter == 0 && result.RequeueAfter != 0 {
				t.Errorf("requeue after %v, want none", result.RequeueAfter)
			}
			if tc.wantAfter != 0 && (result.RequeueAfter < tc.wantAfter*9/10 || result.RequeueAfter > tc.wantAfter*11/10 || result.Priority == nil) {
				t.Errorf("requeue %+v, want a low-priority requeue after %v ±10%%", result, tc.wantAfter)
			}
			es := fixtures.ExternalSecret("ns", "db")
			es.Generation = 2
			markFailed(es, tc.failure)
			ready := apimeta.FindStatusCondition(es.Status.Conditions, vfv1alpha1.ReadyCondition)
			if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != tc.failure.Reason || ready.Message != "cause" {
				t.Errorf("Ready = %+v", ready)
			}
			stalled := apimeta.IsStatusConditionTrue(es.Status.Conditions, vfv1alpha1.StalledCondition)
			reconciling := apimeta.IsStatusConditionTrue(es.Status.Conditions, vfv1alpha1.ReconcilingCondition)
			if stalled != tc.wantStalled || reconciling == tc.wantStalled {
				t.Errorf("Stalled = %v, Reconciling = %v; want Stalled %v", stalled, reconciling, tc.wantStalled)
			}
			if tc.wantStalled != (es.Status.ObservedGeneration == 2) {
				t.Errorf("observedGeneration = %d: set only when stalled", es.Status.ObservedGeneration)
			}
		})
	}
}

func TestPlanRollouts(t *testing.T) {
	deployment := func(name string, annotations map[string]string, secrets ...string) workload {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}}
		d.Spec.Template.Annotations = annotations
		d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app"}}
		for _, s := range secrets {
			d.Spec.Template.Spec.Containers[0].EnvFrom = append(d.Spec.Template.Spec.Containers[0].EnvFrom,
				corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: s}}})
		}
		return workload{kind: "Deployment", obj: d, template: &d.Spec.Template}
	}
	synced := func(name, target, current string, older ...string) *vfv1alpha1.ExternalSecret {
		es := fixtures.ExternalSecret("ns", name, fixtures.WithTarget(target))
		es.Status.CurrentSecretName = current
		for _, v := range append([]string{current}, older...) {
			es.Status.Versions = append(es.Status.Versions, vfv1alpha1.SecretVersion{Name: v})
		}
		return es
	}
	db := synced("db", "db-credentials", "db-credentials-new", "db-credentials-old")
	db.Spec.Rollout = &vfv1alpha1.Rollout{Targets: []vfv1alpha1.RolloutTarget{{Kind: "Deployment", Name: "hashed-target"}, {Kind: "Deployment", Name: "bystander"}}}
	api := synced("api", "api-key", "api-key-new", "api-key-old")
	dbPin, apiPin := podrefs.PinAnnotation("db-credentials"), podrefs.PinAnnotation("api-key")
	workloads := []workload{
		deployment("names-base", nil, "db-credentials", "unrelated"),
		deployment("names-both", map[string]string{"team": "a"}, "db-credentials", "api-key"),
		deployment("pinned-old", map[string]string{dbPin: "db-credentials-old"}, "db-credentials"),
		deployment("pinned-current", map[string]string{dbPin: "db-credentials-new"}, "db-credentials"),
		deployment("hashed-target", nil, "db-credentials-old"),
		deployment("hashed-elsewhere", nil, "db-credentials-old"),
		deployment("bystander", nil, "unrelated"),
	}
	type moved struct {
		pins     map[string]string
		rewrites []rewrite
	}
	hashed := []rewrite{{"/spec/template/spec/containers/0/envFrom/0/secretRef/name", "db-credentials-old", "db-credentials-new"}}
	cases := map[string]struct {
		due     []*vfv1alpha1.ExternalSecret
		pinning bool
		want    map[string]moved
	}{
		"admission mode pins workloads naming the target, rewrites hashed references of targets": {
			due: []*vfv1alpha1.ExternalSecret{db}, pinning: true,
			want: map[string]moved{
				"names-base":    {pins: map[string]string{dbPin: "db-credentials-new"}},
				"names-both":    {pins: map[string]string{dbPin: "db-credentials-new"}},
				"pinned-old":    {pins: map[string]string{dbPin: "db-credentials-new"}},
				"hashed-target": {rewrites: hashed},
			},
		},
		"ExternalSecrets due together make one plan per workload": {
			due: []*vfv1alpha1.ExternalSecret{db, api}, pinning: true,
			want: map[string]moved{
				"names-base":    {pins: map[string]string{dbPin: "db-credentials-new"}},
				"names-both":    {pins: map[string]string{dbPin: "db-credentials-new", apiPin: "api-key-new"}},
				"pinned-old":    {pins: map[string]string{dbPin: "db-credentials-new"}},
				"hashed-target": {rewrites: hashed},
			},
		},
		"rewrite mode writes no pins": {
			due: []*vfv1alpha1.ExternalSecret{db}, pinning: false,
			want: map[string]moved{"hashed-target": {rewrites: hashed}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			plans, missing, err := planRollouts(workloads, tc.due, olderOf(tc.due[0]), tc.pinning)
			if err != nil || len(missing) != 0 {
				t.Fatalf("err %v, missing %v", err, missing)
			}
			got := map[string]moved{}
			for _, p := range plans {
				m := moved{rewrites: p.rewrites}
				if len(p.pins) > 0 {
					m.pins = p.pins
				}
				got[p.workload.obj.GetName()] = m
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(moved{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanPatch(t *testing.T) {
	d := &appsv1.Deployment{}
	w := workload{kind: "Deployment", obj: d, template: &d.Spec.Template}
	ops := planPatch(rolloutPlan{workload: w, pins: map[string]string{"vaultferry.io/version.b": "b-2", "vaultferry.io/version.a": "a-2"}})
	want := []patchOp{{Op: "add", Path: "/spec/template/metadata/annotations", Value: map[string]string{"vaultferry.io/version.a": "a-2", "vaultferry.io/version.b": "b-2"}}}
	if diff := cmp.Diff(want, ops); diff != "" {
		t.Errorf("without annotations (-want +got):\n%s", diff)
	}
	d.Spec.Template.Annotations = map[string]string{"team": "a"}
	ops = planPatch(rolloutPlan{workload: w, pins: map[string]string{"vaultferry.io/version.b": "b-2", "vaultferry.io/version.a": "a-2"},
		rewrites: []rewrite{{Path: "/spec/template/spec/volumes/0/secret/secretName", From: "c-1", To: "c-2"}}})
	want = []patchOp{
		{Op: "test", Path: "/spec/template/spec/volumes/0/secret/secretName", Value: "c-1"},
		{Op: "replace", Path: "/spec/template/spec/volumes/0/secret/secretName", Value: "c-2"},
		{Op: "add", Path: "/spec/template/metadata/annotations/vaultferry.io~1version.a", Value: "a-2"},
		{Op: "add", Path: "/spec/template/metadata/annotations/vaultferry.io~1version.b", Value: "b-2"},
	}
	if diff := cmp.Diff(want, ops); diff != "" {
		t.Errorf("with annotations (-want +got):\n%s", diff)
	}
}

func TestRolloutWaitsForTheBatchWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	es := fixtures.ExternalSecret("ns", "db")
	es.Status.RefreshTime = &metav1.Time{Time: now.Add(-500 * time.Millisecond)}
	if got := rolloutWait(es, 2*time.Second, now); got != 1500*time.Millisecond {
		t.Errorf("0.5 s after the sync: wait %v, want 1.5s", got)
	}
	if got := rolloutWait(es, 2*time.Second, now.Add(time.Hour)); got != 0 {
		t.Errorf("after the window: wait %v, want 0", got)
	}
}

// A store not validated yet defers its ExternalSecrets without a failure
// (no condition, event or status write: its Ready wakes them); a store
// validated and not Ready is a failure that says why.
func TestStoreReadinessGatesSync(t *testing.T) {
	ready := func(status metav1.ConditionStatus, reason, msg string) []metav1.Condition {
		return []metav1.Condition{{Type: vfv1alpha1.ReadyCondition, Status: status, Reason: reason, Message: msg}}
	}
	cases := map[string]struct {
		conditions []metav1.Condition
		wantKind   requeue.Kind
		wantMsg    string
		wantOK     bool
	}{
		"not validated yet": {nil, requeue.Defer, `SecretStore "store" has not been validated yet`, false},
		"validation failed": {ready(metav1.ConditionFalse, vfv1alpha1.InvalidProviderConfigReason, "bad token"), requeue.Wait,
			`SecretStore "store" is not ready: InvalidProviderConfig: bad token`, false},
		"ready": {ready(metav1.ConditionTrue, vfv1alpha1.ValidatedReason, ""), 0, "", true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			store := fixtures.FakeStore("ns", "store")
			store.Status.Conditions = tc.conditions
			kube := clientfake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(store).Build()
			r := &Reconciler{Client: kube, Clients: providers.NewClientCache(providers.MustNewRegistry(fake.New()), nil, nil)}
			es := fixtures.ExternalSecret("ns", "db")
			es.Spec.SecretStoreRef.Name = "store"
			resolved, err := r.resolveStore(context.Background(), es)
			if tc.wantOK {
				if err != nil || resolved == nil {
					t.Fatalf("resolveStore: %v", err)
				}
				return
			}
			var failure *requeue.Error
			if !errors.As(err, &failure) || failure.Kind != tc.wantKind || failure.Reason != vfv1alpha1.StoreNotReadyReason || failure.Error() != tc.wantMsg {
				t.Fatalf("got %#v (%v), want kind %v, reason StoreNotReady, message %q", failure, err, tc.wantKind, tc.wantMsg)
			}
		})
	}
}
