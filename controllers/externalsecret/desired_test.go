package externalsecret

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	clientfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
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
			got, err := desiredSecret(context.Background(), tc.es, fetched{Data: values}, testKey)
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

func TestSecretsReferencedBy(t *testing.T) {
	spec := &corev1.PodSpec{
		Volumes: []corev1.Volume{
			{Name: "a", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "vol"}}},
			{Name: "b", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "projected"}}}}}}},
		},
		InitContainers: []corev1.Container{{EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "init-envfrom"}}}}}},
		Containers: []corev1.Container{{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "env"}, Key: "k"}}}}}},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pull"}},
	}
	want := []string{"vol", "projected", "init-envfrom", "env", "pull"}
	if diff := cmp.Diff(want, SecretsReferencedBy(spec)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReferenceRewrites(t *testing.T) {
	ref := func(name string) corev1.LocalObjectReference { return corev1.LocalObjectReference{Name: name} }
	spec := &corev1.PodSpec{
		Volumes: []corev1.Volume{
			{VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db-old"}}},
			{VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "someone-elses"}}},
			{VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: ref("db-old")}}, // a ConfigMap of that name is not ours
				{Secret: &corev1.SecretProjection{LocalObjectReference: ref("db-older")}}}}}},
		},
		InitContainers: []corev1.Container{{EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: ref("db-old")}}}}},
		Containers: []corev1.Container{{}, {Env: []corev1.EnvVar{{Name: "A", Value: "db-old"},
			{Name: "B", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: ref("db-new"), Key: "k"}}},
			{Name: "C", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: ref("db-old"), Key: "k"}}}}}},
		ImagePullSecrets: []corev1.LocalObjectReference{ref("db-old")},
	}
	got := referenceRewrites(spec, "/spec/template/spec", sets.New("db-old", "db-older"), "db-new")
	want := []rewrite{
		{"/spec/template/spec/volumes/0/secret/secretName", "db-old", "db-new"},
		{"/spec/template/spec/volumes/2/projected/sources/1/secret/name", "db-older", "db-new"},
		{"/spec/template/spec/initContainers/0/envFrom/0/secretRef/name", "db-old", "db-new"},
		{"/spec/template/spec/containers/1/env/2/valueFrom/secretKeyRef/name", "db-old", "db-new"},
		{"/spec/template/spec/imagePullSecrets/0/name", "db-old", "db-new"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := referenceRewrites(spec, "", sets.New("unrelated"), "db-new"); len(got) != 0 {
		t.Errorf("rewrites for a workload that references no version: %v", got)
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
