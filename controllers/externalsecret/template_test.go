package externalsecret

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
	"github.com/vaultferry/vaultferry/test/fixtures"
)

func stringsOf(m map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func version(revision string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{Data: map[string][]byte{}}
	s.Annotations = map[string]string{vfv1alpha1.RevisionAnnotation: revision}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// .previous is the data of the version before the one being written: the
// same values keep rendering the current version, new values render a new
// one whose .previous is the current version.
func TestPreviousIsTheVersionBeforeTheOneWritten(t *testing.T) {
	es := fixtures.ExternalSecret("ns", "db", fixtures.WithTemplate(map[string]string{
		"password":     "{{ .password }}",
		"old-password": `{{ get .previous "password" | default .password }}`,
	}))
	values := func(p string) map[string][]byte { return map[string][]byte{"password": []byte(p)} }
	render := func(v map[string][]byte, prior priorVersions) map[string]string {
		t.Helper()
		got, err := renderContent(context.Background(), es, v, templateSources{}, prior)
		if err != nil {
			t.Fatal(err)
		}
		return stringsOf(got.data)
	}

	first := render(values("p1"), priorVersions{})
	if diff := cmp.Diff(map[string]string{"password": "p1", "old-password": "p1"}, first); diff != "" {
		t.Errorf("first sync (.previous is empty):\n%s", diff)
	}
	v1 := version("1", first)
	if got := render(values("p1"), priorVersions{current: v1}); !cmp.Equal(got, first) {
		t.Errorf("a refresh with the same value changed the content: %v", got)
	}
	second := render(values("p2"), priorVersions{current: v1})
	if diff := cmp.Diff(map[string]string{"password": "p2", "old-password": "p1"}, second); diff != "" {
		t.Errorf("rotation:\n%s", diff)
	}
	v2 := version("2", second)
	if got := render(values("p2"), priorVersions{current: v2, beforeCurrent: v1}); !cmp.Equal(got, second) {
		t.Errorf("a refresh after the rotation changed the content: %v", got)
	}
	if diff := cmp.Diff(map[string]string{"password": "p3", "old-password": "p2"},
		render(values("p3"), priorVersions{current: v2, beforeCurrent: v1})); diff != "" {
		t.Errorf("second rotation:\n%s", diff)
	}
	// A fetched key named previous wins over the previous version.
	es.Spec.Target.Template.Data = map[string]string{"k": "{{ .previous }}"}
	if got := render(map[string][]byte{"previous": []byte("mine")}, priorVersions{current: v2, beforeCurrent: v1}); got["k"] != "mine" {
		t.Errorf("with a fetched key named previous: %v", got)
	}
}

func TestPriorVersionsOf(t *testing.T) {
	es := fixtures.ExternalSecret("ns", "db")
	es.Status.CurrentSecretName = "db-c"
	owned := []corev1.Secret{*version("1", nil), *version("3", nil), *version("2", nil), *version("4", nil)}
	for i, name := range []string{"db-a", "db-c", "db-b", "db-newer-but-not-current"} {
		owned[i].Name = name
	}
	p := priorVersionsOf(es, owned)
	if p.current.Name != "db-c" || p.beforeCurrent.Name != "db-b" {
		t.Errorf("got current %v, before %v", p.current.Name, p.beforeCurrent.Name)
	}
	es.Spec.Target.Immutable = new(false)
	if p := priorVersionsOf(es, owned); p.current != nil {
		t.Error("a mutable target has no history for .previous")
	}
}

func TestTemplateFromAndMergePolicy(t *testing.T) {
	values := map[string][]byte{"user": []byte("app"), "password": []byte("s3cr3t")}
	sources := templateSources{data: map[string]map[string]string{
		"ConfigMap/tpl": {
			"config.yaml": "user: {{ .user }}\npassword: {{ .password }}\n",
			"templated":   "app-{{ .user }}: {{ .password | b64enc }}\nenabled: true\nport: 5432\n",
			"labels":      "team: payments\nuser: {{ .user }}\n",
		},
		"Secret/tpl-secret": {"dsn": "postgres://{{ .user }}@db"},
	}}
	from := func(kind, key string, as vfv1alpha1.TemplateScope, target vfv1alpha1.TemplateTarget) vfv1alpha1.TemplateFrom {
		ref := &vfv1alpha1.TemplateSourceRef{Name: "tpl", Items: []vfv1alpha1.TemplateSourceItem{{Key: key, TemplateAs: as}}}
		f := vfv1alpha1.TemplateFrom{Target: target}
		if kind == "Secret" {
			ref.Name = "tpl-secret"
			f.Secret = ref
		} else {
			f.ConfigMap = ref
		}
		return f
	}
	literal := "literal-{{ .user }}: yes-{{ .password }}\n"
	cases := map[string]struct {
		template  vfv1alpha1.SecretTemplate
		wantData  map[string]string
		wantLabel map[string]string
		wantAnno  map[string]string
		reason    string
	}{
		"Values: the item renders under its own key": {
			template: vfv1alpha1.SecretTemplate{TemplateFrom: []vfv1alpha1.TemplateFrom{from("ConfigMap", "config.yaml", "", "")}},
			wantData: map[string]string{"config.yaml": "user: app\npassword: s3cr3t\n"},
		},
		"KeysAndValues: keys and values are rendered, scalars written as they read": {
			template: vfv1alpha1.SecretTemplate{TemplateFrom: []vfv1alpha1.TemplateFrom{from("ConfigMap", "templated", vfv1alpha1.TemplateScopeKeysAndValues, "")}},
			wantData: map[string]string{"app-app": "czNjcjN0", "enabled": "true", "port": "5432"},
		},
		"a Secret source, a literal, and inline data winning": {
			template: vfv1alpha1.SecretTemplate{
				TemplateFrom: []vfv1alpha1.TemplateFrom{from("Secret", "dsn", "", ""), {Literal: &literal}},
				Data:         map[string]string{"dsn": "inline wins"},
			},
			wantData: map[string]string{"dsn": "inline wins", "literal-app": "yes-s3cr3t"},
		},
		"Merge keeps the fetched keys, rendered ones winning": {
			template: vfv1alpha1.SecretTemplate{MergePolicy: vfv1alpha1.MergeMerge, Data: map[string]string{"password": "{{ .password | upper }}"}},
			wantData: map[string]string{"user": "app", "password": "S3CR3T"},
		},
		"Replace writes only the rendered keys": {
			template: vfv1alpha1.SecretTemplate{MergePolicy: vfv1alpha1.MergeReplace, Data: map[string]string{"password": "{{ .password | upper }}"}},
			wantData: map[string]string{"password": "S3CR3T"},
		},
		"labels and annotations from templates, data passed through": {
			template: vfv1alpha1.SecretTemplate{TemplateFrom: []vfv1alpha1.TemplateFrom{
				from("ConfigMap", "labels", vfv1alpha1.TemplateScopeKeysAndValues, vfv1alpha1.TemplateTargetLabels),
				{Literal: new("owner/{{ .user }}: platform"), Target: vfv1alpha1.TemplateTargetAnnotations},
			}},
			wantData:  map[string]string{"user": "app", "password": "s3cr3t"},
			wantLabel: map[string]string{"team": "payments", "user": "app"},
			wantAnno:  map[string]string{"owner/app": "platform"},
		},
		"template.metadata values render too, as in ESO's v2 engine": {
			template: vfv1alpha1.SecretTemplate{
				Metadata: vfv1alpha1.TemplateMetadata{Labels: map[string]string{"user": "{{ .user }}", "team": "payments"},
					Annotations: map[string]string{"owner": "{{ .user | upper }}@example.com"}},
			},
			wantData:  map[string]string{"user": "app", "password": "s3cr3t"},
			wantLabel: map[string]string{"user": "app", "team": "payments"},
			wantAnno:  map[string]string{"owner": "APP@example.com"},
		},
		"a template.metadata label value that renders to no label value is refused without showing it": {
			template: vfv1alpha1.SecretTemplate{Metadata: vfv1alpha1.TemplateMetadata{Labels: map[string]string{"pw": "{{ .password }}!"}}},
			reason:   vfv1alpha1.InvalidTemplateReason,
		},
		"a rendered operator label is refused": {
			template: vfv1alpha1.SecretTemplate{TemplateFrom: []vfv1alpha1.TemplateFrom{
				{Literal: new("vaultferry.io/external-secret: other"), Target: vfv1alpha1.TemplateTargetLabels}}},
			reason: vfv1alpha1.InvalidTemplateReason,
		},
		"a rendered service-account annotation is refused": {
			template: vfv1alpha1.SecretTemplate{TemplateFrom: []vfv1alpha1.TemplateFrom{
				{Literal: new("kubernetes.io/service-account.name: default"), Target: vfv1alpha1.TemplateTargetAnnotations}}},
			reason: vfv1alpha1.InvalidTemplateReason,
		},
		"a rendered label value that is not a label value is refused without showing it": {
			template: vfv1alpha1.SecretTemplate{TemplateFrom: []vfv1alpha1.TemplateFrom{
				{Literal: new("pw: '{{ .password }}!'"), Target: vfv1alpha1.TemplateTargetLabels}}},
			reason: vfv1alpha1.InvalidTemplateReason,
		},
		"a rendered data key that is not a Secret key is refused without showing it": {
			template: vfv1alpha1.SecretTemplate{TemplateFrom: []vfv1alpha1.TemplateFrom{{Literal: new("'{{ .password }}/x': v")}}},
			reason:   vfv1alpha1.InvalidTemplateReason,
		},
		"KeysAndValues output that is not a mapping is refused": {
			template: vfv1alpha1.SecretTemplate{TemplateFrom: []vfv1alpha1.TemplateFrom{{Literal: new("- a\n- b")}}},
			reason:   vfv1alpha1.InvalidTemplateReason,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			es := fixtures.ExternalSecret("ns", "db")
			es.Spec.Target.Template = &tc.template
			got, err := renderContent(context.Background(), es, values, sources, priorVersions{})
			if tc.reason != "" {
				if requeue.As(err, "").Reason != tc.reason {
					t.Fatalf("got %v, want reason %s", err, tc.reason)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Errorf("the error shows a value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantData, stringsOf(got.data)); diff != "" {
				t.Errorf("data -want +got:\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantLabel, got.labels, emptyMapsEqual); diff != "" {
				t.Errorf("labels -want +got:\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantAnno, got.annotations, emptyMapsEqual); diff != "" {
				t.Errorf("annotations -want +got:\n%s", diff)
			}
		})
	}
}

var emptyMapsEqual = cmp.FilterValues(func(a, b map[string]string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())

func TestDecodingStrategies(t *testing.T) {
	cases := []struct {
		strategy vfv1alpha1.DecodingStrategy
		in, want string
		fails    bool
	}{
		{"", "aGk+Pz8=", "aGk+Pz8=", false},
		{vfv1alpha1.DecodeNone, "aGk+Pz8=", "aGk+Pz8=", false},
		{vfv1alpha1.DecodeBase64, "aGk+Pz8=", "hi>??", false},
		{vfv1alpha1.DecodeBase64, "aGk+Pz8", "hi>??", false},
		{vfv1alpha1.DecodeBase64, "aGk-Pw", "", true},
		{vfv1alpha1.DecodeBase64URL, "aGk-Pw", "hi>?", false},
		{vfv1alpha1.DecodeBase64URL, "aGk+Pz8=", "", true},
		{vfv1alpha1.DecodeAuto, "aGk+Pz8=", "hi>??", false},
		{vfv1alpha1.DecodeAuto, "aGk-Pw==", "hi>?", false},
		{vfv1alpha1.DecodeAuto, "not base64!", "not base64!", false},
	}
	for _, tc := range cases {
		got, err := decode([]byte(tc.in), tc.strategy)
		if (err != nil) != tc.fails || (!tc.fails && string(got) != tc.want) {
			t.Errorf("%s %q: got %q, %v", tc.strategy, tc.in, got, err)
		}
	}
}

// A templated ExternalSecret keeps the version before the current one
// whatever its history limit, for .previous.
func TestHistoryLimitKeepsTheVersionBeforeForTemplates(t *testing.T) {
	plain := fixtures.ExternalSecret("ns", "db")
	plain.Spec.Target.History = &vfv1alpha1.History{Limit: 1}
	templated := plain.DeepCopy()
	templated.Spec.Target.Template = &vfv1alpha1.SecretTemplate{Data: map[string]string{"k": "{{ .previous }}"}}
	if historyLimit(plain) != 1 || historyLimit(templated) != 2 {
		t.Errorf("limits %d, %d; want 1, 2", historyLimit(plain), historyLimit(templated))
	}
}

// After a restart (nothing in memory), ExternalSecrets whose recorded
// refresh is a whole interval old come due spread over the next interval,
// not all at once; one read by this process counts from that read.
func TestRefreshesResumeSpreadAfterARestart(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	r := &Reconciler{Now: func() time.Time { return now }}
	const every = time.Hour
	var earliest, latest time.Duration = every, 0
	for i := range 200 {
		es := fixtures.ExternalSecret("ns", fmt.Sprintf("es-%d", i))
		es.UID = types.UID(fmt.Sprintf("uid-%d", i))
		es.Status.RefreshTime = &metav1.Time{Time: now.Add(-3 * time.Hour)}
		due := r.lastRefresh(es, every).Add(every).Sub(now)
		if due < 0 || due >= every {
			t.Fatalf("%s comes due in %v, outside the next interval", es.Name, due)
		}
		earliest, latest = min(earliest, due), max(latest, due)
		if again := r.lastRefresh(es, every).Add(every).Sub(now); again != due {
			t.Fatalf("the spread point moved: %v, then %v", due, again)
		}
	}
	if earliest > 5*time.Minute || latest < 55*time.Minute {
		t.Errorf("200 ExternalSecrets come due between %v and %v: not spread over the hour", earliest, latest)
	}

	recent := fixtures.ExternalSecret("ns", "recent")
	recent.UID = "uid-recent"
	recent.Status.RefreshTime = &metav1.Time{Time: now.Add(-10 * time.Minute)}
	if got := r.lastRefresh(recent, every); !got.Equal(recent.Status.RefreshTime.Time) {
		t.Errorf("a refresh recorded 10 minutes ago: last refresh %v", got)
	}
	r.noteRefresh(recent, now.Add(-time.Minute)) // read since, content unchanged: status not written
	if got := r.lastRefresh(recent, every); !got.Equal(now.Add(-time.Minute)) {
		t.Errorf("a read by this process a minute ago: last refresh %v", got)
	}
}
