package gitops

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/podrefs"
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

// An ExternalSecret removed from Git and pruned by Flux while Pods use its
// versions: no Pod ever names a Secret that is gone. With Delete the
// ExternalSecret goes at once and its versions stay (being deleted) until
// the app leaves Git too and its Pods are gone; put back in Git meanwhile,
// it takes its version over. With Retain the versions stay.
func TestPrunedFromGitWhilePodsUseItsVersions(t *testing.T) {
	for _, policy := range []vfv1alpha1.DeletionPolicy{vfv1alpha1.DeletionPolicyDelete, vfv1alpha1.DeletionPolicyRetain} {
		t.Run(string(policy), func(t *testing.T) {
			ctx := context.Background()
			app, v1 := startFluxApp(t, func(ns string) string {
				return strings.Replace(esManifest(ns, ""), "history: {limit: 1}", "history: {limit: 1}\n    deletionPolicy: "+string(policy), 1)
			}, nil)
			ns, es, flux, esPath, webPath := app.namespace, app.es, app.flux, app.esPath, app.webPath
			// A rotation: without kubelets the rolling update stops at one
			// new Pod, so Pods use both versions (v1 past history.limit).
			v2 := app.rotate(t, "second", v1)
			waitPodsHolding(t, waitReplicaSetPinned(t, ns, "web", "db-credentials", v2), 1, v2)
			lost := watchPodsLosingSecrets(t, ns)

			// The ExternalSecret leaves Git; the Deployment stays.
			if got := flux.reconcile(webPath)["ExternalSecret/"+ns+"/db"]; got != "deleted" {
				t.Fatalf("Flux prune of the ExternalSecret: %q, want deleted", got)
			}
			operator.WaitGone(t, env.Client, es)
			time.Sleep(3 * time.Second) // the garbage collector ran; the operator rechecks every second
			assertVersionsExist(t, ns, v1, v2)

			if policy == vfv1alpha1.DeletionPolicyDelete {
				// Put back in Git (a revert): the new ExternalSecret takes over
				// the version of its content that Pods still use.
				flux.reconcile(esPath, webPath)
				back := operator.WaitSynced(t, env.Client, es, "")
				if back.Status.CurrentSecretName != v2 {
					t.Errorf("re-created ExternalSecret synced to %s, want the version in use %s", back.Status.CurrentSecretName, v2)
				}
				version := &corev1.Secret{}
				if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: v2}, version); err != nil {
					t.Fatal(err)
				}
				if owner := metav1.GetControllerOf(version); owner == nil || owner.UID != back.UID {
					t.Errorf("version %s controller = %+v, want the re-created ExternalSecret", v2, owner)
				}
				flux.reconcile(webPath)
				operator.WaitGone(t, env.Client, es)
			}

			// The app leaves Git: Flux prunes the Deployment, the garbage
			// collector its ReplicaSets and their Pods.
			flux.reconcile()
			waitNoPods(t, ns)
			if policy == vfv1alpha1.DeletionPolicyDelete {
				for _, name := range []string{v1, v2} {
					operator.WaitGone(t, env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
				}
			} else {
				time.Sleep(3 * time.Second)
				assertVersionsExist(t, ns, v1, v2)
			}
			if got := lost(); len(got) > 0 {
				t.Errorf("Pods named Secrets that were gone: %v", got)
			}
		})
	}
}

// watchPodsLosingSecrets samples the namespace until the test ends and
// returns, when called, each "Pod -> Secret" seen with the Pod there and its
// Secret gone. Secrets are listed before Pods: a Secret deleted only after
// its last Pod cannot be reported.
func watchPodsLosingSecrets(t *testing.T, namespace string) func() []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	seen := sets.New[string]()
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			secrets, pods := &corev1.SecretList{}, &corev1.PodList{}
			if env.Client.List(ctx, secrets, client.InNamespace(namespace)) != nil || env.Client.List(ctx, pods, client.InNamespace(namespace)) != nil {
				continue
			}
			exist := sets.New[string]()
			for _, s := range secrets.Items {
				exist.Insert(s.Name)
			}
			for _, p := range pods.Items {
				for _, name := range podrefs.Names(&p.Spec) {
					if !exist.Has(name) {
						seen.Insert(p.Name + " -> " + name)
					}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	stop := func() []string {
		cancel()
		<-done
		return sets.List(seen)
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitNoPods waits until namespace has no Pods.
func waitNoPods(t *testing.T, namespace string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		pods := &corev1.PodList{}
		if err := env.Client.List(context.Background(), pods, client.InNamespace(namespace)); err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Pods left in %s a minute after their Deployment was pruned", len(pods.Items), namespace)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
