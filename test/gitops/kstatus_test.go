package gitops

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// kstatusOf reads obj from the API server as it is served (unstructured,
// as Flux reads it) and computes its status as Flux's health checks do.
func kstatusOf(t *testing.T, obj client.Object) status.Status {
	t.Helper()
	gvk, err := env.Client.GroupVersionKindFor(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), u); err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(u)
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

func TestGitOpsHealthChecks(t *testing.T) {
	testenv.Require(t, env)
	ns := env.Namespace(t, nil)
	healthy := fixtures.FakeStore(ns, "healthy", fixtures.FakeData("db", `{"password":"p"}`)...)
	// Its credential Secret does not exist: a configuration mistake until
	// someone creates it (the operator watches for it).
	unauthenticated := fixtures.FakeStore(ns, "unauthenticated")
	unauthenticated.Spec.Provider.Fake.AuthSecretRef = &vfv1alpha1.SecretKeySelector{Name: "missing", Key: "token"}
	// A provider this operator does not run: only a spec change helps.
	broken := fixtures.FakeStore(ns, "broken")
	broken.Spec.Provider.Fake = nil
	broken.Spec.Provider.Vault = &vfv1alpha1.VaultProvider{Server: "https://127.0.0.1:1", Path: "secret", Auth: vfv1alpha1.VaultAuth{TokenSecretRef: &vfv1alpha1.SecretKeySelector{Name: "token", Key: "token"}}}
	synced := fixtures.ExternalSecret(ns, "synced", fixtures.WithStore(vfv1alpha1.SecretStoreKind, "healthy"))
	waiting := fixtures.ExternalSecret(ns, "waiting", fixtures.WithStore(vfv1alpha1.SecretStoreKind, "absent"))
	stalled := fixtures.ExternalSecret(ns, "stalled", fixtures.WithStore(vfv1alpha1.SecretStoreKind, "healthy"), fixtures.WithTemplate(map[string]string{"x": "{{ .nope"}))
	operator.Create(t, env.Client, healthy, unauthenticated, broken, synced, waiting, stalled)

	// Before the operator has seen them: InProgress, never Current.
	for _, obj := range []client.Object{healthy, unauthenticated, broken, synced, waiting, stalled} {
		if got := kstatusOf(t, obj); got != status.InProgressStatus {
			t.Errorf("%s %s before the operator ran: %s, want InProgress", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), got)
		}
	}

	start(t)
	operator.WaitSynced(t, env.Client, synced, "")
	operator.WaitForReason(t, env.Client, stalled, metav1.ConditionFalse, vfv1alpha1.InvalidTemplateReason)
	operator.WaitForReason(t, env.Client, waiting, metav1.ConditionFalse, vfv1alpha1.StoreNotFoundReason)
	for _, store := range []*vfv1alpha1.SecretStore{unauthenticated, broken} {
		operator.WaitFor(t, env.Client, store, "validated", func(s *vfv1alpha1.SecretStore) bool {
			return operator.Condition(s.Status.Conditions, vfv1alpha1.ReadyCondition) != nil
		})
	}
	cases := []struct {
		obj  client.Object
		want status.Status
	}{
		{healthy, status.CurrentStatus},
		{synced, status.CurrentStatus},
		{waiting, status.InProgressStatus},
		{stalled, status.FailedStatus},
		{unauthenticated, status.FailedStatus},
		{broken, status.FailedStatus},
	}
	for _, tc := range cases {
		if got := kstatusOf(t, tc.obj); got != tc.want {
			t.Errorf("%s: kstatus %s, want %s", tc.obj.GetName(), got, tc.want)
		}
	}

	// A spec change is InProgress until observed, then Current again.
	operator.Update(t, env.Client, synced, func(es *vfv1alpha1.ExternalSecret) { es.Spec.Target.Name = "renamed" })
	operator.WaitFor(t, env.Client, synced, "renamed synced", func(es *vfv1alpha1.ExternalSecret) bool {
		return es.Status.ObservedGeneration == es.Generation
	})
	if got := kstatusOf(t, synced); got != status.CurrentStatus {
		t.Errorf("after the edit synced: %s, want Current", got)
	}
}

// The operator says at start which mode it runs in: here the cluster serves
// the policy API and the policies are installed.
func TestOperatorLogsItsStableReferenceMode(t *testing.T) {
	start(t)
	want := "Stable references: admission mode: MutatingAdmissionPolicy vaultferry-stable-references resolves Pods naming a target"
	if logs := operator.CapturedLogs(); !strings.Contains(logs, want) {
		t.Errorf("operator log lacks %q", want)
	}
}
