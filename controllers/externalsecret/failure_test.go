package externalsecret_test

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
)

const failureValue = "f41lure-case-value-Zq8"

// Every failure leaves Ready=False with its own reason, records an event and
// touches none of the versions already synced.
func TestFailuresKeepExistingVersions(t *testing.T) {
	_, faults := start(t)
	cases := map[string]struct {
		breakIt func(t *testing.T, ns string, es *vfv1alpha1.ExternalSecret)
		reason  string
		stalled bool
	}{
		"the store is missing": {
			breakIt: func(t *testing.T, _ string, es *vfv1alpha1.ExternalSecret) {
				update(t, es, func(es *vfv1alpha1.ExternalSecret) { es.Spec.SecretStoreRef.Name = "missing" })
			},
			reason: vfv1alpha1.StoreNotFoundReason,
		},
		"the store is not ready": {
			breakIt: func(t *testing.T, ns string, es *vfv1alpha1.ExternalSecret) {
				locked := fixtures.FakeStore(ns, "locked", fixtures.FakeData("db", `{"password":"x"}`)...)
				locked.Spec.Provider.Fake.AuthSecretRef = &vfv1alpha1.SecretKeySelector{Name: "no-such-credential", Key: "token"}
				locked.Spec.Provider.Fake.Token = "expected"
				operator.Create(t, env.Client, locked)
				update(t, es, func(es *vfv1alpha1.ExternalSecret) { es.Spec.SecretStoreRef.Name = "locked" })
			},
			reason: vfv1alpha1.StoreNotReadyReason,
		},
		"the provider is unavailable": {
			breakIt: func(t *testing.T, ns string, es *vfv1alpha1.ExternalSecret) {
				faults.set(ns+"/store", providers.Errorf(providers.ErrUnavailable, "connection refused"))
				operator.ForceSync(t, env.Client, es)
			},
			reason: vfv1alpha1.UnavailableReason,
		},
		"the provider refuses access": {
			breakIt: func(t *testing.T, ns string, es *vfv1alpha1.ExternalSecret) {
				faults.set(ns+"/store", providers.Errorf(providers.ErrForbidden, "permission denied"))
				operator.ForceSync(t, env.Client, es)
			},
			reason: vfv1alpha1.ForbiddenReason,
		},
		"the provider fails in an unclassified way": {
			breakIt: func(t *testing.T, ns string, es *vfv1alpha1.ExternalSecret) {
				faults.set(ns+"/store", errors.New("backend exploded"))
				operator.ForceSync(t, env.Client, es)
			},
			reason: vfv1alpha1.ProviderErrorReason,
		},
		"the remote key does not exist": {
			breakIt: func(t *testing.T, _ string, es *vfv1alpha1.ExternalSecret) {
				update(t, es, func(es *vfv1alpha1.ExternalSecret) { es.Spec.Data[0].RemoteRef.Key = "absent" })
			},
			reason: vfv1alpha1.NotFoundReason,
		},
		"the template does not parse": {
			breakIt: func(t *testing.T, _ string, es *vfv1alpha1.ExternalSecret) {
				update(t, es, func(es *vfv1alpha1.ExternalSecret) {
					es.Spec.Target.Template = &vfv1alpha1.SecretTemplate{Data: map[string]string{"dsn": "{{ .password | nosuchfunc }}"}}
				})
			},
			reason:  vfv1alpha1.InvalidTemplateReason,
			stalled: true,
		},
		"the template fails on the value": {
			breakIt: func(t *testing.T, _ string, es *vfv1alpha1.ExternalSecret) {
				update(t, es, func(es *vfv1alpha1.ExternalSecret) {
					es.Spec.Target.Template = &vfv1alpha1.SecretTemplate{Data: map[string]string{"dsn": "{{ .password | fromJson }}"}}
				})
			},
			reason:  vfv1alpha1.InvalidTemplateReason,
			stalled: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ns := env.Namespace(t, nil)
			readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"`+failureValue+`"}`)...)
			es := fixtures.ExternalSecret(ns, "app")
			operator.Create(t, env.Client, es)
			current := synced(t, es, "").Status.CurrentSecretName
			before := snapshot(versions(t, ns, "app"))

			tc.breakIt(t, ns, es)

			es = operator.WaitForReason(t, env.Client, es, metav1.ConditionFalse, tc.reason)
			operator.WaitForEvent(t, env.Client, ns, "app", tc.reason)
			if es.Status.CurrentSecretName != current {
				t.Errorf("currentSecretName moved from %s to %s on failure", current, es.Status.CurrentSecretName)
			}
			stalled := operator.Condition(es.Status.Conditions, vfv1alpha1.StalledCondition)
			if tc.stalled != (stalled != nil && stalled.Status == metav1.ConditionTrue) {
				t.Errorf("Stalled condition = %+v, want stalled=%v", stalled, tc.stalled)
			}
			if !tc.stalled && operator.Condition(es.Status.Conditions, vfv1alpha1.ReconcilingCondition) == nil {
				t.Errorf("a retried failure should set Reconciling: %+v", es.Status.Conditions)
			}
			if after := snapshot(versions(t, ns, "app")); !maps.Equal(before, after) {
				t.Errorf("versions changed on failure:\nbefore %v\nafter  %v", before, after)
			}
			operator.AssertNoLeak(t, env.Client, ns, failureValue)
		})
	}
}

// snapshot identifies each version by name, resourceVersion and data.
func snapshot(secrets map[string]corev1.Secret) map[string]string {
	out := map[string]string{}
	for name, s := range secrets {
		out[name] = fmt.Sprintf("rv=%s data=%x", s.ResourceVersion, s.Data)
	}
	return out
}
