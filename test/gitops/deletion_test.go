package gitops

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
)

// With kube-controller-manager's garbage collector running, deletionPolicy
// is proven by what remains after the ExternalSecret is deleted, not by
// owner references alone.
func TestDeletionPolicyByGarbageCollection(t *testing.T) {
	start(t)
	ctx := context.Background()
	for _, tc := range []struct {
		policy   vfv1alpha1.DeletionPolicy
		wantKept bool
	}{{vfv1alpha1.DeletionPolicyDelete, false}, {vfv1alpha1.DeletionPolicyRetain, true}} {
		t.Run(string(tc.policy), func(t *testing.T) {
			ns := env.Namespace(t, nil)
			store := operator.ReadyFakeStore(t, env.Client, ns, "store", fixtures.FakeData("db", `{"password":"p1"}`)...)
			es := fixtures.ExternalSecret(ns, "db", fixtures.WithDeletionPolicy(tc.policy))
			operator.Create(t, env.Client, es)
			v1 := operator.WaitSynced(t, env.Client, es, "").Status.CurrentSecretName
			operator.SetFakeStoreData(t, env.Client, store, fixtures.FakeData("db", `{"password":"p2"}`)...)
			operator.ForceSync(t, env.Client, es)
			v2 := operator.WaitSynced(t, env.Client, es, v1).Status.CurrentSecretName

			if err := env.Client.Delete(ctx, es); err != nil {
				t.Fatal(err)
			}
			remaining := func() (n int) {
				for _, name := range []string{v1, v2} {
					if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &corev1.Secret{}); err == nil {
						n++
					}
				}
				return n
			}
			if !tc.wantKept {
				deadline := time.Now().Add(time.Minute)
				for remaining() > 0 {
					if time.Now().After(deadline) {
						t.Fatalf("Delete: %d versions still there a minute after the ExternalSecret was deleted", remaining())
					}
					time.Sleep(200 * time.Millisecond)
				}
				return
			}
			// The garbage collector deletes dependents within a second here
			// (see Delete); give it five.
			operator.WaitGone(t, env.Client, es)
			time.Sleep(5 * time.Second)
			if n := remaining(); n != 2 {
				t.Fatalf("Retain: %d of 2 versions left after the garbage collector ran", n)
			}
		})
	}
}
