package externalsecret

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// holdStatus computes status.heldVersion and the Held condition from
// spec.target.holdVersion and the kept versions: a hold is in effect only
// on a kept version of this ExternalSecret. No I/O.
func holdStatus(es *vfv1alpha1.ExternalSecret) (held string, cond *metav1.Condition) {
	want := es.Spec.Target.HoldVersion
	if want == "" {
		return "", nil
	}
	cond = &metav1.Condition{Type: vfv1alpha1.HeldCondition, ObservedGeneration: es.Generation}
	kept := slices.ContainsFunc(es.Status.Versions, func(v vfv1alpha1.SecretVersion) bool { return v.Name == want })
	if !kept || !strings.HasPrefix(want, es.TargetBaseName()+"-") {
		var names []string
		for _, v := range es.Status.Versions {
			names = append(names, v.Name)
		}
		cond.Status, cond.Reason = metav1.ConditionFalse, vfv1alpha1.HeldVersionNotFoundReason
		cond.Message = fmt.Sprintf("target.holdVersion %s is not a kept version of this ExternalSecret (kept: %s); workloads get the current version %s. Set it to a kept version, or remove it",
			want, strings.Join(names, ", "), es.Status.CurrentSecretName)
		return "", cond
	}
	cond.Status, cond.Reason = metav1.ConditionTrue, vfv1alpha1.HeldReason
	cond.Message = fmt.Sprintf("Workloads are held at %s; the current version is %s. Remove target.holdVersion to roll them to it", want, es.Status.CurrentSecretName)
	return want, cond
}

// applyHold records the hold in status and tells of changes to it in
// events: a hold taking effect, one that cannot, and its release.
func (r *Reconciler) applyHold(es *vfv1alpha1.ExternalSecret) {
	before := apimeta.FindStatusCondition(es.Status.Conditions, vfv1alpha1.HeldCondition)
	wasHeld := es.Status.HeldVersion
	held, cond := holdStatus(es)
	es.Status.HeldVersion = held
	if cond == nil {
		apimeta.RemoveStatusCondition(&es.Status.Conditions, vfv1alpha1.HeldCondition)
		if wasHeld != "" {
			r.Events.Eventf(es, nil, corev1.EventTypeNormal, vfv1alpha1.HoldReleasedReason, "Hold",
				"Hold on %s released: workloads roll to the current version %s", wasHeld, es.Status.CurrentSecretName)
		}
		return
	}
	if before == nil || before.Reason != cond.Reason || held != wasHeld {
		kind := corev1.EventTypeNormal
		if cond.Status != metav1.ConditionTrue {
			kind = corev1.EventTypeWarning
		}
		r.Events.Eventf(es, nil, kind, cond.Reason, "Hold", "%s", cond.Message)
	}
	apimeta.SetStatusCondition(&es.Status.Conditions, *cond)
}
