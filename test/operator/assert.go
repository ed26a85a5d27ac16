package operator

import (
	"context"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// Timeout bounds every wait on the operator in tests.
const Timeout = 30 * time.Second

// WaitFor polls fetch until check accepts the object, failing the test after
// Timeout with the last object's state.
func WaitFor[T client.Object](t testing.TB, c client.Client, obj T, what string, check func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		if err == nil && check(obj) {
			return obj
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s of %s (last error: %v): %+v", what, obj.GetName(), err, obj)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Condition returns the named condition of an ExternalSecret or store, or nil.
func Condition(conds []metav1.Condition, typ string) *metav1.Condition {
	return apimeta.FindStatusCondition(conds, typ)
}

// HasReason reports whether Ready has the given status and reason.
func HasReason(conds []metav1.Condition, status metav1.ConditionStatus, reason string) bool {
	c := Condition(conds, vfv1alpha1.ReadyCondition)
	return c != nil && c.Status == status && c.Reason == reason
}

// WaitForReason waits for the ExternalSecret's Ready condition to have status and reason.
func WaitForReason(t testing.TB, c client.Client, es *vfv1alpha1.ExternalSecret, status metav1.ConditionStatus, reason string) *vfv1alpha1.ExternalSecret {
	t.Helper()
	return WaitFor(t, c, es, "Ready="+string(status)+" "+reason, func(es *vfv1alpha1.ExternalSecret) bool {
		return HasReason(es.Status.Conditions, status, reason) &&
			Condition(es.Status.Conditions, vfv1alpha1.ReadyCondition).ObservedGeneration == es.Generation
	})
}

// Events lists the events in namespace regarding the named object.
func Events(t testing.TB, c client.Client, namespace, name string) []eventsv1.Event {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := c.List(context.Background(), list, client.InNamespace(namespace)); err != nil {
		t.Fatalf("listing events: %v", err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if name == "" || e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// WaitForEvent waits for an event with reason about the named object.
func WaitForEvent(t testing.TB, c client.Client, namespace, name, reason string) eventsv1.Event {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		for _, e := range Events(t, c, namespace, name) {
			if e.Reason == reason {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event %s for %s/%s within %v; events: %+v", reason, namespace, name, Timeout, Events(t, c, namespace, name))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// AssertNoLeak fails when any secret value appears in the operator's logs,
// in the events of namespace, or in the conditions of its ExternalSecrets and stores.
func AssertNoLeak(t testing.TB, c client.Client, namespace string, values ...string) {
	t.Helper()
	var haystack strings.Builder
	haystack.WriteString(CapturedLogs())
	for _, e := range Events(t, c, namespace, "") {
		haystack.WriteString(e.Note + " " + e.Reason + "\n")
	}
	ess := &vfv1alpha1.ExternalSecretList{}
	stores := &vfv1alpha1.SecretStoreList{}
	for _, l := range []client.ObjectList{ess, stores} {
		if err := c.List(context.Background(), l, client.InNamespace(namespace)); err != nil {
			t.Fatalf("listing: %v", err)
		}
	}
	for _, es := range ess.Items {
		for _, cond := range es.Status.Conditions {
			haystack.WriteString(cond.Message + " " + cond.Reason + "\n")
		}
	}
	for _, s := range stores.Items {
		for _, cond := range s.Status.Conditions {
			haystack.WriteString(cond.Message + " " + cond.Reason + "\n")
		}
	}
	text := haystack.String()
	if len(text) < 100 {
		t.Fatalf("leak check saw almost nothing (%d bytes): the logs or events are not being captured", len(text))
	}
	for _, v := range values {
		if strings.Contains(text, v) {
			t.Errorf("secret value %q leaked into logs, events or conditions", v)
		}
	}
}

// WaitGone waits until obj no longer exists (its finalizers ran).
func WaitGone(t testing.TB, c client.Client, obj client.Object) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still exists after %v (last error: %v)", obj.GetName(), Timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
