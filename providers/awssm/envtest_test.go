package awssm_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/awssm"
	"github.com/vaultferry/vaultferry/test/awsfake"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

func awsStore(ns string, fake *awsfake.Server, auth *vfv1alpha1.AWSAuth, role string) *vfv1alpha1.SecretStore {
	return &vfv1alpha1.SecretStore{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "aws"},
		Spec: vfv1alpha1.SecretStoreSpec{Provider: vfv1alpha1.SecretStoreProvider{AWS: &vfv1alpha1.AWSProvider{
			Region: fake.Region, Endpoint: fake.URL, Role: role, Auth: auth,
		}}},
	}
}

func TestSyncRotatePinAndErrorsThroughTheSDK(t *testing.T) {
	fake, ns := startWithFake(t)
	fake.Put("app/db", `{"username":"app","password":"aws-one"}`)

	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "aws-creds"},
		StringData: map[string]string{"id": accessKeyID, "secret": secretAccessKey}}
	store := awsStore(ns, fake, &vfv1alpha1.AWSAuth{SecretRef: &vfv1alpha1.AWSSecretRef{
		AccessKeyIDSecretRef:     vfv1alpha1.SecretKeySelector{Name: "aws-creds", Key: "id"},
		SecretAccessKeySecretRef: vfv1alpha1.SecretKeySelector{Name: "aws-creds", Key: "secret"},
	}}, "")
	latest := fixtures.ExternalSecret(ns, "db", fixtures.WithStore(vfv1alpha1.SecretStoreKind, "aws"), fixtures.WithExtract("app/db"))
	operator.Create(t, env.Client, creds, store, latest)

	first := operator.WaitSynced(t, env.Client, latest, "")
	v1 := first.Status.CurrentSecretName
	if got := string(operator.SecretData(t, env.Client, ns, v1)["password"]); got != "aws-one" {
		t.Fatalf("synced password %q", got)
	}
	if first.Status.Versions[0].SourceVersions["app/db"] == "" {
		t.Errorf("the AWS version id is not recorded in status.versions: %+v", first.Status.Versions)
	}

	// Rotation: a new AWSCURRENT gives a new immutable version.
	fake.Put("app/db", `{"username":"app","password":"aws-two"}`)
	operator.ForceSync(t, env.Client, latest)
	v2 := operator.WaitSynced(t, env.Client, latest, v1).Status.CurrentSecretName
	if got := string(operator.SecretData(t, env.Client, ns, v2)["password"]); got != "aws-two" {
		t.Fatalf("after rotation the password is %q", got)
	}

	// Pinning AWSPREVIOUS reads the earlier value.
	previous := fixtures.ExternalSecret(ns, "db-previous", fixtures.WithStore(vfv1alpha1.SecretStoreKind, "aws"), fixtures.WithData("password", "app/db", "password"))
	previous.Spec.Data[0].RemoteRef.Version = "AWSPREVIOUS"
	operator.Create(t, env.Client, previous)
	if got := operator.SyncedValue(t, env.Client, previous, "password"); got != "aws-one" {
		t.Fatalf("AWSPREVIOUS gave %q", got)
	}

	// Each error class sets its own reason; the synced version stays.
	for code, reason := range map[string]string{
		"ResourceNotFoundException": vfv1alpha1.NotFoundReason,
		"AccessDeniedException":     vfv1alpha1.ForbiddenReason,
		"ThrottlingException":       vfv1alpha1.ThrottledReason,
		"InternalServiceError":      vfv1alpha1.UnavailableReason,
	} {
		t.Run(code, func(t *testing.T) {
			status := 400
			if code == "InternalServiceError" {
				status = 500
			}
			fake.Fail("app/db", code, status)
			defer fake.Fail("app/db", "", 0)
			operator.ForceSync(t, env.Client, latest)
			es := operator.WaitForReason(t, env.Client, latest, metav1.ConditionFalse, reason)
			if es.Status.CurrentSecretName != v2 {
				t.Errorf("current version moved on failure")
			}
		})
	}
	operator.AssertNoLeak(t, env.Client, ns, "aws-one", "aws-two", secretAccessKey)
}

// The web identity path asks the API server for a ServiceAccount token and
// hands exactly that token to STS, then signs with the role's credentials.
func TestWebIdentityUsesATokenRequestToken(t *testing.T) {
	fake, ns := startWithFake(t)
	fake.Put("app/token", "irsa-value")
	role := "arn:aws:iam::123456789012:role/app"
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-sa"}}
	store := awsStore(ns, fake, &vfv1alpha1.AWSAuth{JWT: &vfv1alpha1.AWSJWTAuth{ServiceAccountRef: vfv1alpha1.ServiceAccountSelector{Name: "app-sa"}}}, role)
	es := fixtures.ExternalSecret(ns, "token", fixtures.WithStore(vfv1alpha1.SecretStoreKind, "aws"), fixtures.WithData("token", "app/token", ""))
	operator.Create(t, env.Client, sa, store, es)

	if got := operator.SyncedValue(t, env.Client, es, "token"); got != "irsa-value" {
		t.Fatalf("synced %q", got)
	}
	calls := fake.WebIdentityCalls()
	if len(calls) == 0 {
		t.Fatal("STS AssumeRoleWithWebIdentity was never called")
	}
	if calls[0].RoleARN != role {
		t.Errorf("assumed role %q, want %q", calls[0].RoleARN, role)
	}
	operator.AssertServiceAccountToken(t, env.Client, calls[0].Token, awssm.DefaultAudience, ns, "app-sa")
	if caller := fake.LastCaller(); !strings.HasPrefix(caller, "ASIAFAKE") {
		t.Errorf("Secrets Manager was called as %q, want the role's temporary credentials", caller)
	}
}

// startWithFake runs the operator with the AWS provider talking to a new
// fake Secrets Manager and STS, and returns the fake and a fresh namespace.
func startWithFake(t *testing.T) (*awsfake.Server, string) {
	t.Helper()
	testenv.Require(t, env)
	fake := awsfake.New(accessKeyID, secretAccessKey)
	t.Cleanup(fake.Close)
	operator.Start(t, env, controllers.Config{Registry: providers.MustNewRegistry(awssm.New(awssm.WithHTTPClient(fake.Client())))})
	return fake, env.Namespace(t, nil)
}

// Through the operator: a find of 25 keys reads their values in
// ⌈25/20⌉ BatchGetSecretValue calls, and extract with a property copies
// the fields of a nested object.
func TestFindAndNestedExtractThroughTheSDK(t *testing.T) {
	fake, ns := startWithFake(t)
	for i := range 25 {
		fake.Put(fmt.Sprintf("team/app/key-%02d", i), fmt.Sprintf("value-%02d", i))
	}
	fake.Put("team/config", `{"app":{"mode":"fast","level":"3"},"other":{"x":"y"}}`)
	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "aws-creds"},
		StringData: map[string]string{"id": accessKeyID, "secret": secretAccessKey}}
	store := awsStore(ns, fake, &vfv1alpha1.AWSAuth{SecretRef: &vfv1alpha1.AWSSecretRef{
		AccessKeyIDSecretRef:     vfv1alpha1.SecretKeySelector{Name: "aws-creds", Key: "id"},
		SecretAccessKeySecretRef: vfv1alpha1.SecretKeySelector{Name: "aws-creds", Key: "secret"},
	}}, "")
	path := "team/app/"
	es := fixtures.ExternalSecret(ns, "bulk", fixtures.WithStore(vfv1alpha1.SecretStoreKind, "aws"),
		fixtures.WithFind(vfv1alpha1.ExternalSecretFind{Path: &path}, vfv1alpha1.ExternalSecretRewrite{Regexp: &vfv1alpha1.RewriteRegexp{Source: "^team/app/", Target: ""}}))
	es.Spec.DataFrom = append(es.Spec.DataFrom, vfv1alpha1.ExternalSecretDataFrom{Extract: &vfv1alpha1.RemoteRef{Key: "team/config", Property: "app"}})
	batches := fake.Requests("BatchGetSecretValue")
	operator.Create(t, env.Client, creds, store, es)

	synced := operator.WaitSynced(t, env.Client, es, "")
	data := operator.SecretData(t, env.Client, ns, synced.Status.CurrentSecretName)
	if len(data) != 27 || string(data["key-07"]) != "value-07" || string(data["mode"]) != "fast" || string(data["level"]) != "3" || data["x"] != nil {
		t.Fatalf("synced %d keys (key-07=%q mode=%q level=%q x=%q), want the 25 found and the 2 fields of app", len(data), data["key-07"], data["mode"], data["level"], data["x"])
	}
	if n := fake.Requests("BatchGetSecretValue") - batches; n > 3 {
		t.Errorf("%d BatchGetSecretValue calls, want 2 for the find (and at most 1 for the extract)", n)
	}
	if n := fake.Requests("GetSecretValue"); n > 1 {
		t.Errorf("%d GetSecretValue calls: found values were read one by one", n)
	}
}
