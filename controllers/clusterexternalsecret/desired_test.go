package clusterexternalsecret

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

func TestSelectedNamespaces(t *testing.T) {
	ns := func(name string, labels map[string]string, terminating bool) corev1.Namespace {
		n := corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
		if terminating {
			n.Status.Phase = corev1.NamespaceTerminating
		}
		return n
	}
	all := []corev1.Namespace{
		ns("web", map[string]string{"tier": "front", "kubernetes.io/metadata.name": "web"}, false),
		ns("db", map[string]string{"tier": "back", "kubernetes.io/metadata.name": "db"}, false),
		ns("old", map[string]string{"tier": "front"}, true),
		ns("bare", nil, false),
	}
	cases := []struct {
		name      string
		selectors []metav1.LabelSelector
		want      []string
		err       bool
	}{
		{"one selector", []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "front"}}}, []string{"web"}, false},
		{"selectors are ORed", []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "front"}}, {MatchLabels: map[string]string{"kubernetes.io/metadata.name": "db"}}}, []string{"db", "web"}, false},
		{"expressions", []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpExists}}}}, []string{"db", "web"}, false},
		{"an empty selector selects nothing, not everything", []metav1.LabelSelector{{}}, nil, false},
		{"a selector that does not parse", []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near"}}}}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := selectedNamespaces(tc.selectors, all)
			if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestDesiredExternalSecretAndDiffers(t *testing.T) {
	ces := &vfv1alpha1.ClusterExternalSecret{ObjectMeta: metav1.ObjectMeta{Name: "pull"}, Spec: vfv1alpha1.ClusterExternalSecretSpec{
		ExternalSecretSpec:     vfv1alpha1.ExternalSecretSpec{SecretStoreRef: vfv1alpha1.SecretStoreRef{Name: "s"}},
		ExternalSecretMetadata: &vfv1alpha1.ExternalSecretMetadata{Labels: map[string]string{"team": "x"}, Annotations: map[string]string{"a": "b"}},
	}}
	es := desiredExternalSecret(ces, "web")
	if es.Name != "pull" || es.Namespace != "web" || es.Labels["team"] != "x" || es.Labels[vfv1alpha1.ClusterExternalSecretLabel] != "pull" || es.Annotations["a"] != "b" {
		t.Fatalf("desired: %+v", es.ObjectMeta)
	}
	ces.Spec.ExternalSecretName = "renamed"
	if desiredExternalSecret(ces, "web").Name != "renamed" {
		t.Fatal("externalSecretName ignored")
	}
	existing := es.DeepCopy()
	existing.Labels["added-by-someone"] = "ok"
	if differs(existing, es) {
		t.Error("a label someone else added counts as a difference")
	}
	existing.Spec.SecretStoreRef.Name = "other"
	if !differs(existing, es) {
		t.Error("a changed spec does not count")
	}
	existing = es.DeepCopy()
	delete(existing.Labels, "team")
	if !differs(existing, es) {
		t.Error("a removed label does not count")
	}
}
