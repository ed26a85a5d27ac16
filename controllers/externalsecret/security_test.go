package externalsecret_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/controllers/externalsecret"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// A failing template never shows the values it failed on: text/template's
// own messages print them ("range can't iterate over <value>"), so each
// failure class is tried and the condition, the events and the operator's
// log are searched for the values.
func TestTemplateErrorsDoNotShowValues(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	const password, user = "pw-canary-7f3K9q", "user-canary-2Lm8"
	readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"`+password+`","user":"`+user+`","list":["`+user+`"]}`)...)
	templates := map[string]string{
		"range":   `{{ range .password }}{{ end }}`,
		"eq":      `{{ eq (.json | fromJson) (.json | fromJson) }}`,
		"index":   `{{ index (.json | fromJson).list 3 }}`,
		"compare": `{{ lt .password 1 }}`,
		"slice":   `{{ slice .password 9 1 }}`,
		"decode":  `{{ .password | b64dec }}`,
		"two-var": `{{ range $i, $v := (len .password) }}{{ end }}`,
	}
	for name, tmpl := range templates {
		es := fixtures.ExternalSecret(ns, name, fixtures.WithExtract("db"), fixtures.WithTemplate(map[string]string{"out": tmpl}))
		es.Spec.Data = []vfv1alpha1.ExternalSecretData{{SecretKey: "json", RemoteRef: vfv1alpha1.RemoteRef{Key: "db"}}}
		operator.Create(t, env.Client, es)
		got := operator.WaitForReason(t, env.Client, es, metav1.ConditionFalse, vfv1alpha1.InvalidTemplateReason)
		msg := operator.Condition(got.Status.Conditions, vfv1alpha1.ReadyCondition).Message
		if !strings.Contains(msg, `template for key "out" at line 1`) {
			t.Errorf("%s: the condition does not say where the template failed: %s", name, msg)
		}
		operator.WaitForEvent(t, env.Client, ns, es.Name, vfv1alpha1.InvalidTemplateReason)
	}
	operator.AssertNoLeak(t, env.Client, ns, password, user)
}

// One tenant's templates cannot hold the operator: loops over huge ranges
// (ten of them, as many as the operator's workers), output past the Secret
// limit and values doubled in a variable each hit a limit named in the
// condition, and another tenant's new ExternalSecret still syncs.
func TestBadTemplatesDoNotStallOtherTenants(t *testing.T) {
	testenv.Require(t, env)
	operator.Start(t, env, controllers.Config{Registry: providers.MustNewRegistry(fake.New()), SyncConcurrency: 10})
	hostile, other := env.Namespace(t, nil), env.Namespace(t, nil)
	readyStore(t, hostile, "store", fixtures.FakeData("db", `{"password":"p"}`)...)
	readyStore(t, other, "store", fixtures.FakeData("db", `{"password":"theirs"}`)...)
	bad := map[string]string{
		"bytes of output":             `{{ range 60 }}{{ printf "%01000000d" 0 }}{{ end }}`,
		"bytes produced by functions": `{{ $x := .password }}{{ range 40 }}{{ $x = printf "%s%s%s%s" $x $x $x $x }}{{ end }}`,
		"steps":                       `{{ range 100000 }}{{ range 100000 }}{{ end }}{{ end }}`,
	}
	var hostileES []*vfv1alpha1.ExternalSecret
	for i := range 10 {
		bad["range-"+string(rune('a'+i))] = `{{ range 1000000000000 }}{{ end }}`
	}
	for name, tmpl := range bad {
		es := fixtures.ExternalSecret(hostile, strings.ReplaceAll(name, " ", "-"), fixtures.WithTemplate(map[string]string{"out": tmpl}))
		operator.Create(t, env.Client, es)
		hostileES = append(hostileES, es)
	}
	victim := fixtures.ExternalSecret(other, "db")
	operator.Create(t, env.Client, victim)
	if got := operator.SyncedValue(t, env.Client, victim, "password"); got != "theirs" {
		t.Errorf("the other tenant's Secret holds %q", got)
	}
	for _, es := range hostileES {
		got := operator.WaitForReason(t, env.Client, es, metav1.ConditionFalse, vfv1alpha1.InvalidTemplateReason)
		msg := operator.Condition(got.Status.Conditions, vfv1alpha1.ReadyCondition).Message
		want := strings.ReplaceAll(es.Name, "-", " ")
		switch {
		case strings.Contains(msg, "of rendering time"):
			// A loaded machine (or a race-detector build) may reach the
			// deadline before the limit the template aims at; which of two
			// limits comes first is render.TestLimits' business, on its own.
			want = "of rendering time"
		case strings.HasPrefix(es.Name, "range-"):
			want = "iterations of a range over an integer"
		}
		if !strings.Contains(msg, "template exceeded the limit of") || !strings.Contains(msg, want) {
			t.Errorf("%s: the condition does not name the limit %q: %s", es.Name, want, msg)
		}
		if got.Status.CurrentSecretName != "" {
			t.Errorf("%s: a Secret was written", es.Name)
		}
	}
}

// Version names cannot be compared across namespaces or ExternalSecrets:
// equal content gets a different name in each, so syncing guesses in one's
// own namespace tells nothing about another's versions.
func TestVersionNamesAreBoundToNamespaceAndExternalSecret(t *testing.T) {
	start(t)
	names := map[string]string{}
	var first string
	for _, ns := range []string{env.Namespace(t, nil), env.Namespace(t, nil)} {
		readyStore(t, ns, "store", fixtures.FakeData("db", `{"password":"1234"}`)...)
		for _, esName := range []string{"pin", "guess"} {
			es := fixtures.ExternalSecret(ns, esName, fixtures.WithTarget("pin"+esName))
			operator.Create(t, env.Client, es)
			name := synced(t, es, "").Status.CurrentSecretName
			suffix := name[strings.LastIndex(name, "-")+1:]
			if other, seen := names[suffix]; seen {
				t.Errorf("%s/%s has the suffix of %s: %s", ns, esName, other, suffix)
			}
			names[suffix] = ns + "/" + esName
			if first == "" {
				first = string(operator.SecretData(t, env.Client, ns, name)["password"])
			}
		}
	}
	if first != "1234" {
		t.Fatalf("synced %q", first)
	}
}

// Upgrading from 0.1, whose version names were not bound to the namespace,
// keeps every existing version: a version whose content is unchanged stays
// current under its old name (no copy, no rollout), and the next change
// writes a new-style version while a Pod still holds the old one.
func TestUpgradeKeepsVersionsNamedBefore(t *testing.T) {
	testenv.Require(t, env)
	ctx := context.Background()
	key, err := externalsecret.LoadOrCreateHashKey(ctx, env.Client, operator.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t, nil)
	store := fixtures.FakeStore(ns, "store", fixtures.FakeData("db", `{"password":"v1"}`)...)
	es := fixtures.ExternalSecret(ns, "db", fixtures.WithHistory(1))
	operator.Create(t, env.Client, store, es)

	// What 0.1 left behind: its version of the content, current in status.
	data := map[string][]byte{"password": []byte("v1")}
	oldName, oldHash := externalsecret.LegacyVersionName(key, "db", corev1.SecretTypeOpaque, data)
	old := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: oldName,
			Labels:          map[string]string{vfv1alpha1.ManagedLabel: "true", vfv1alpha1.ExternalSecretLabel: "db"},
			Annotations:     map[string]string{vfv1alpha1.ContentHashAnnotation: oldHash, vfv1alpha1.RevisionAnnotation: "1"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: vfv1alpha1.GroupVersion.String(), Kind: "ExternalSecret", Name: es.Name, UID: es.UID, Controller: new(true)}}},
		Immutable: new(true), Data: data,
	}
	pod := podUsing(ns, "app", oldName)
	operator.Create(t, env.Client, old, pod)
	before := es.DeepCopy()
	es.Status = vfv1alpha1.ExternalSecretStatus{CurrentSecretName: oldName, Revision: 1}
	if err := env.Client.Status().Patch(ctx, es, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}

	start(t)
	if got := synced(t, es, "").Status.CurrentSecretName; got != oldName {
		t.Fatalf("after the upgrade the current version is %s, want the 0.1 version %s", got, oldName)
	}
	if got := versions(t, ns, "db"); len(got) != 1 {
		t.Fatalf("the upgrade wrote versions for unchanged content: %d versions", len(got))
	}

	setStoreData(t, store, fixtures.FakeData("db", `{"password":"v2"}`)...)
	operator.ForceSync(t, env.Client, es)
	current := synced(t, es, oldName).Status.CurrentSecretName
	if got := string(operator.SecretData(t, env.Client, ns, current)["password"]); got != "v2" {
		t.Fatalf("new version holds %q", got)
	}
	if _, kept := versions(t, ns, "db")[oldName]; !kept {
		t.Fatalf("the 0.1 version %s was deleted while a Pod uses it", oldName)
	}
}

// Pruning deletes only the version it looked at: a Secret re-created under
// the same name in the meantime (another owner, another UID) survives.
func TestPruneNeverDeletesARecreatedSecret(t *testing.T) {
	testenv.Require(t, env)
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	es := fixtures.ExternalSecret(ns, "db")
	operator.Create(t, env.Client, es)
	version := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-old"}, StringData: map[string]string{"password": "old"}}
	operator.Create(t, env.Client, version)
	stale := *version.DeepCopy() // what the cache still holds
	if err := env.Client.Delete(ctx, version); err != nil {
		t.Fatal(err)
	}
	recreated := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-old"}, StringData: map[string]string{"owner": "someone else"}}
	operator.Create(t, env.Client, recreated)

	r := &externalsecret.Reconciler{Client: env.Client, APIReader: env.Client, Events: events.NewFakeRecorder(10)}
	if _, err := r.Prune(ctx, es, []corev1.Secret{stale}, []string{"db-old"}); err != nil {
		t.Fatal(err)
	}
	if got := getSecret(t, ns, "db-old"); got.UID != recreated.UID {
		t.Fatalf("the re-created Secret was deleted (now %q)", got.UID)
	}
}
