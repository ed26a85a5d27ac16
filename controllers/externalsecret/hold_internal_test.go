package externalsecret

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

func TestHoldStatus(t *testing.T) {
	kept := []vfv1alpha1.SecretVersion{{Name: "db-v3"}, {Name: "db-v2"}, {Name: "db-v1"}}
	for name, tc := range map[string]struct {
		hold, wantHeld, wantReason string
		wantInMessage              []string
	}{
		"no hold":                      {},
		"a kept version":               {hold: "db-v1", wantHeld: "db-v1", wantReason: vfv1alpha1.HeldReason, wantInMessage: []string{"held at db-v1", "current version is db-v3"}},
		"the current version":          {hold: "db-v3", wantHeld: "db-v3", wantReason: vfv1alpha1.HeldReason},
		"a pruned version":             {hold: "db-v0", wantReason: vfv1alpha1.HeldVersionNotFoundReason, wantInMessage: []string{"db-v0 is not a kept version", "kept: db-v3, db-v2, db-v1", "get the current version db-v3"}},
		"a version of another target":  {hold: "api-v1", wantReason: vfv1alpha1.HeldVersionNotFoundReason},
		"another target's kept prefix": {hold: "db-v1x", wantReason: vfv1alpha1.HeldVersionNotFoundReason},
	} {
		t.Run(name, func(t *testing.T) {
			es := &vfv1alpha1.ExternalSecret{ObjectMeta: metav1.ObjectMeta{Name: "db", Generation: 4}}
			es.Spec.Target.HoldVersion = tc.hold
			es.Status.CurrentSecretName, es.Status.Versions = "db-v3", kept
			held, cond := holdStatus(es)
			if held != tc.wantHeld {
				t.Errorf("held %q, want %q", held, tc.wantHeld)
			}
			if tc.wantReason == "" {
				if cond != nil {
					t.Errorf("condition %+v without a hold", cond)
				}
				return
			}
			if cond == nil || cond.Reason != tc.wantReason || cond.ObservedGeneration != 4 || (cond.Status == metav1.ConditionTrue) != (tc.wantHeld != "") {
				t.Fatalf("condition %+v, want reason %s", cond, tc.wantReason)
			}
			for _, want := range tc.wantInMessage {
				if !strings.Contains(cond.Message, want) {
					t.Errorf("message %q does not say %q", cond.Message, want)
				}
			}
		})
	}
}

func TestRolloutDue(t *testing.T) {
	for name, tc := range map[string]struct {
		status vfv1alpha1.ExternalSecretStatus
		want   bool
	}{
		"nothing synced":               {vfv1alpha1.ExternalSecretStatus{Revision: 2}, false},
		"rolled out":                   {vfv1alpha1.ExternalSecretStatus{CurrentSecretName: "db-b", Revision: 2, RolloutRevision: 2}, false},
		"a new version":                {vfv1alpha1.ExternalSecretStatus{CurrentSecretName: "db-b", Revision: 3, RolloutRevision: 2}, true},
		"a hold set":                   {vfv1alpha1.ExternalSecretStatus{CurrentSecretName: "db-b", Revision: 2, RolloutRevision: 2, HeldVersion: "db-a"}, true},
		"a hold rolled out":            {vfv1alpha1.ExternalSecretStatus{CurrentSecretName: "db-b", Revision: 2, RolloutRevision: 2, HeldVersion: "db-a", RolloutHeldVersion: "db-a"}, false},
		"a new version while held":     {vfv1alpha1.ExternalSecretStatus{CurrentSecretName: "db-c", Revision: 3, RolloutRevision: 2, HeldVersion: "db-a", RolloutHeldVersion: "db-a"}, true},
		"a hold released":              {vfv1alpha1.ExternalSecretStatus{CurrentSecretName: "db-b", Revision: 2, RolloutRevision: 2, RolloutHeldVersion: "db-a"}, true},
		"undone by hand (no new data)": {vfv1alpha1.ExternalSecretStatus{CurrentSecretName: "db-b", Revision: 5, RolloutRevision: 5}, false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := rolloutDue(&vfv1alpha1.ExternalSecret{Status: tc.status}); got != tc.want {
				t.Errorf("rolloutDue = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPlanMovesToTheHeldVersion(t *testing.T) {
	es := &vfv1alpha1.ExternalSecret{ObjectMeta: metav1.ObjectMeta{Name: "db"}}
	es.Spec.Target.Name = "db"
	es.Status.CurrentSecretName, es.Status.HeldVersion = "db-v2", "db-v1"
	es.Status.Versions = []vfv1alpha1.SecretVersion{{Name: "db-v2"}, {Name: "db-v1"}}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}}
	d.Spec.Template.Annotations = map[string]string{vfv1alpha1.PinAnnotationPrefix + "db": "db-v2"}
	p := &rolloutPlan{workload: workload{kind: "Deployment", obj: d, template: &d.Spec.Template}, pins: map[string]string{}}
	addToPlan(p, es, olderOf(es), false, true)
	if got := p.pins[vfv1alpha1.PinAnnotationPrefix+"db"]; got != "db-v1" {
		t.Errorf("pin %q, want the held db-v1", got)
	}
	if olderOf(es).Has("db-v1") || !olderOf(es).Has("db-v2") {
		t.Errorf("older than the served version: %v, want db-v2 only", olderOf(es))
	}
}
