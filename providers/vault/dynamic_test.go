package vault_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/controllers/metrics"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/vault"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/postgres"
	"github.com/vaultferry/vaultferry/test/testenv"
	"github.com/vaultferry/vaultferry/test/vaultdev"
)

// databaseEngine mounts Vault's database engine on pg with a role issuing
// login roles for ttl, renewable up to maxTTL.
func databaseEngine(t *testing.T, v *vaultdev.Server, pg *postgres.Server, role, ttl, maxTTL string) {
	t.Helper()
	if _, err := v.Client.Logical().Read("database/config/pg"); err != nil || !mounted(v, "database/") {
		v.Write(t, "sys/mounts/database", map[string]any{"type": "database"})
		v.Write(t, "database/config/pg", map[string]any{"plugin_name": "postgresql-database-plugin", "connection_url": pg.URL(),
			"username": postgres.Superuser, "password": postgres.SuperuserPassword, "allowed_roles": "*"})
	}
	v.Write(t, "database/roles/"+role, map[string]any{"db_name": "pg", "default_ttl": ttl, "max_ttl": maxTTL,
		"creation_statements": `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`})
}

// leaseIDsIn are the lease ids of the versions in ns now (at least one).
func leaseIDsIn(t *testing.T, ns string) []string {
	t.Helper()
	list := &corev1.SecretList{}
	if err := env.Client.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range list.Items {
		if id := s.Annotations[vfv1alpha1.LeaseIDAnnotation]; id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		t.Fatal("no version with a lease id")
	}
	return ids
}

func mounted(v *vaultdev.Server, path string) bool {
	mounts, err := v.Client.Sys().ListMounts()
	return err == nil && mounts[path] != nil
}

func dynamicES(ns, name string, d vfv1alpha1.DynamicSource) *vfv1alpha1.ExternalSecret {
	es := fixtures.ExternalSecret(ns, name, fixtures.WithStore(vfv1alpha1.SecretStoreKind, "vault"))
	es.Spec.Data = nil
	es.Spec.Dynamic = &d
	return es
}

func leaseRenewed(t *testing.T, ns, name string) string {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s.Annotations[vfv1alpha1.LeaseRenewedAnnotation]
}

// Database credentials the operator drives, against a real PostgreSQL:
// renewals keep a role valid past its TTL; a new issue is a new version
// and a new role, while the old role keeps working (renewed) as long as a
// Pod references the old version, and is dropped once nothing does; a
// restarted operator issues nothing; a sealed Vault at renewal time means
// retries and no version lost; credentials are reissued before Vault's max
// TTL on their own.
func TestDynamicDatabaseCredentials(t *testing.T) {
	testenv.Require(t, env)
	ctx := context.Background()
	pg := postgres.Start(t)
	v := vaultdev.Start(t)
	databaseEngine(t, v, pg, "app", "12s", "10m")
	databaseEngine(t, v, pg, "short", "6s", "14s")
	databaseEngine(t, v, pg, "slow", "40s", "10m")
	reg := prometheus.NewRegistry()
	run := operator.StartWithShippedRBAC(t, env, controllers.Config{Registry: providers.MustNewRegistry(vault.New()), InUseRecheck: time.Second, StoreWait: time.Second,
		Metrics: metrics.New(reg)})
	ns := env.Namespace(t, nil)
	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vault-token"}, StringData: map[string]string{"token": vaultdev.RootToken}}
	store := vaultStore(ns, v.Addr, vfv1alpha1.VaultAuth{TokenSecretRef: &vfv1alpha1.SecretKeySelector{Name: "vault-token", Key: "token"}})
	store.Spec.Dynamic = []vfv1alpha1.DynamicGrant{{Path: "database/creds/*", Methods: []vfv1alpha1.DynamicMethod{vfv1alpha1.DynamicRead}}}
	// Renewed every 3 s (a quarter of the 12 s TTL): 9 s of margin before a
	// lease lapses, for a loaded machine (a lapsed lease is reissued and the
	// version this test follows pruned).
	es := dynamicES(ns, "db", vfv1alpha1.DynamicSource{Path: "database/creds/app", RenewAfterPercent: 25})
	operator.Create(t, env.Client, creds, store, es)

	v1 := operator.WaitSynced(t, env.Client, es, "").Status.CurrentSecretName
	first := operator.SecretData(t, env.Client, ns, v1)
	user1, pw1 := string(first["username"]), string(first["password"])
	if _, err := pg.Query(user1, pw1, "select 1"); err != nil {
		t.Fatalf("issued credentials do not log in: %v", err)
	}

	// 1. Renewals: past the 12 s TTL the role still logs in.
	issuedAt := time.Now()
	renewed := leaseRenewed(t, ns, v1)
	operator.WaitFor(t, env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: v1}}, "a renewal",
		func(s *corev1.Secret) bool { return s.Annotations[vfv1alpha1.LeaseRenewedAnnotation] != renewed })
	time.Sleep(time.Until(issuedAt.Add(14 * time.Second))) // past the TTL it was issued with
	if _, err := pg.Query(user1, pw1, "select 1"); err != nil {
		t.Fatalf("the role stopped working although renewed: %v", err)
	}

	// 2. A new issue while a Pod uses v1: a new role; the old one stays, renewed.
	pod := fixtures.PodUsingSecrets(ns, "app", v1)
	operator.Create(t, env.Client, pod)
	operator.ForceSync(t, env.Client, es)
	v2 := operator.WaitSynced(t, env.Client, es, v1).Status.CurrentSecretName
	user2 := string(operator.SecretData(t, env.Client, ns, v2)["username"])
	if user2 == user1 || !slices.Contains(pg.Roles(t), user2) {
		t.Fatalf("the new version's role %q (old %q) is not a new role in PostgreSQL: %v", user2, user1, pg.Roles(t))
	}
	operator.WaitFor(t, env.Client, es, "LeasesHeld", func(e *vfv1alpha1.ExternalSecret) bool {
		c := operator.Condition(e.Status.Conditions, vfv1alpha1.LeasesHeldCondition)
		return c != nil && c.Status == metav1.ConditionTrue
	})
	series := map[string]string{"namespace": ns, "name": "db"}
	if held := operator.MetricValue(t, reg, "vaultferry_leases", map[string]string{"namespace": ns, "name": "db", "state": "superseded"}); held != 1 {
		t.Errorf("vaultferry_leases{state=superseded} = %v, want 1", held)
	}
	if n := operator.MetricValue(t, reg, "vaultferry_lease_renewals_total", map[string]string{"namespace": ns, "name": "db", "result": "Success"}); n < 1 {
		t.Errorf("%v successful renewals counted", n)
	}
	if at := operator.MetricValue(t, reg, "vaultferry_lease_expiry_timestamp_seconds", series); at < float64(time.Now().Unix()) {
		t.Errorf("lease expiry metric %v is in the past", at)
	}
	time.Sleep(14 * time.Second) // past the old lease's TTL
	if _, err := pg.Query(user1, pw1, "select 1"); err != nil {
		t.Fatalf("the old role stopped working while a Pod uses its version: %v", err)
	}

	// 3. Nothing uses v1 any more: its lease is revoked, the role dropped, the version pruned.
	if err := env.Client.Delete(ctx, pod); err != nil {
		t.Fatal(err)
	}
	operator.WaitGone(t, env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: v1}})
	if slices.Contains(pg.Roles(t), user1) {
		t.Errorf("the old role %s is still in pg_roles", user1)
	}

	// 4. A restart issues nothing and rolls nothing; renewals go on. (On a
	// 40 s lease: a restart on a loaded machine can outlast the 12 s one of
	// db, whose current version is then rightly reissued.)
	steady := dynamicES(ns, "steady", vfv1alpha1.DynamicSource{Path: "database/creds/slow", RenewAfterPercent: 25})
	operator.Create(t, env.Client, steady)
	u1 := operator.WaitSynced(t, env.Client, steady, "").Status.CurrentSecretName
	issued := v.Requests(t, "database/creds/slow")
	run.Stop(t)
	operator.StartWithShippedRBAC(t, env, controllers.Config{Registry: providers.MustNewRegistry(vault.New()), InUseRecheck: time.Second, StoreWait: time.Second})
	renewed = leaseRenewed(t, ns, u1)
	operator.WaitFor(t, env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: u1}}, "a renewal by the restarted operator",
		func(s *corev1.Secret) bool { return s.Annotations[vfv1alpha1.LeaseRenewedAnnotation] != renewed })
	if n := v.Requests(t, "database/creds/slow") - issued; n != 0 {
		t.Errorf("the restarted operator issued credentials %d times", n)
	}
	if got := operator.WaitSynced(t, env.Client, steady, "").Status.CurrentSecretName; got != u1 {
		t.Errorf("the restarted operator moved %s from %s to %s", steady.Name, u1, got)
	}

	// 5. Vault sealed at renewal time (renewal due 4 s after issue, reissue
	// 35 s after): the renewal is retried with backoff, succeeds once Vault
	// is back, and the version stays.
	sealed := dynamicES(ns, "sealed", vfv1alpha1.DynamicSource{Path: "database/creds/slow", RenewAfterPercent: 10,
		ReissueBefore: &metav1.Duration{Duration: 5 * time.Second}})
	operator.Create(t, env.Client, sealed)
	w1 := operator.WaitSynced(t, env.Client, sealed, "").Status.CurrentSecretName
	renewed = leaseRenewed(t, ns, w1)
	time.Sleep(3 * time.Second)
	key := v.UnsealKey(t)
	v.Seal(t)
	operator.WaitForReason(t, env.Client, sealed, metav1.ConditionFalse, vfv1alpha1.UnavailableReason)
	time.Sleep(3 * time.Second)
	v.Unseal(t, key)
	back := operator.WaitSynced(t, env.Client, sealed, "")
	if back.Status.CurrentSecretName != w1 {
		t.Fatalf("the current version changed from %s to %s while Vault was sealed", w1, back.Status.CurrentSecretName)
	}
	operator.WaitFor(t, env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: w1}}, "a renewal after the seal",
		func(s *corev1.Secret) bool { return s.Annotations[vfv1alpha1.LeaseRenewedAnnotation] != renewed })
	sealedCreds := operator.SecretData(t, env.Client, ns, w1)
	if _, err := pg.Query(string(sealedCreds["username"]), string(sealedCreds["password"]), "select 1"); err != nil {
		t.Fatalf("the credentials do not work after Vault came back: %v", err)
	}

	// 6. Vault's max TTL: the credentials are reissued before it, on their own.
	short := dynamicES(ns, "short", vfv1alpha1.DynamicSource{Path: "database/creds/short"})
	operator.Create(t, env.Client, short)
	s1 := operator.WaitSynced(t, env.Client, short, "").Status.CurrentSecretName
	s2 := operator.WaitSynced(t, env.Client, short, s1).Status.CurrentSecretName
	if s2 == s1 {
		t.Fatal("not reissued")
	}
	leaseIDs := leaseIDsIn(t, ns)
	// 7. Deleting the ExternalSecret (deletionPolicy Delete) revokes its current lease.
	current := operator.WaitSynced(t, env.Client, es, "").Status.CurrentSecretName
	lastUser := string(operator.SecretData(t, env.Client, ns, current)["username"])
	if err := env.Client.Delete(ctx, es); err != nil {
		t.Fatal(err)
	}
	operator.WaitGone(t, env.Client, es)
	if slices.Contains(pg.Roles(t), lastUser) {
		t.Errorf("the role %s of the deleted ExternalSecret's version is still in pg_roles", lastUser)
	}

	operator.AssertNoLeak(t, env.Client, ns, append(leaseIDs, pw1, user2)...)
}

// A certificate from Vault's PKI engine is a kubernetes.io/tls version; it
// is reissued before it expires, and the reissue rolls the Deployment that
// uses it once.
func TestDynamicCertificateRollsOnce(t *testing.T) {
	testenv.Require(t, env)
	v := vaultdev.Start(t)
	v.PKI(t, nil)
	operator.StartWithShippedRBAC(t, env, controllers.Config{Registry: providers.MustNewRegistry(vault.New()), InUseRecheck: time.Second, StoreWait: time.Second})
	ns := env.Namespace(t, nil)
	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vault-token"}, StringData: map[string]string{"token": vaultdev.RootToken}}
	store := vaultStore(ns, v.Addr, vfv1alpha1.VaultAuth{TokenSecretRef: &vfv1alpha1.SecretKeySelector{Name: "vault-token", Key: "token"}})
	store.Spec.Dynamic = []vfv1alpha1.DynamicGrant{{Path: "pki/issue/web", Methods: []vfv1alpha1.DynamicMethod{vfv1alpha1.DynamicWrite}}}
	es := dynamicES(ns, "web-tls", vfv1alpha1.DynamicSource{Path: "pki/issue/web", ReissueBefore: &metav1.Duration{Duration: 12 * time.Second},
		// 30 s: the next reissue (18 s after this one) must come well after
		// the rollout, even on a loaded machine, or the Deployment moves twice.
		PKI: &vfv1alpha1.PKICertificate{CommonName: "web.example.test", AltNames: []string{"api.example.test"}, TTL: &metav1.Duration{Duration: 30 * time.Second}}})
	es.Spec.Rollout = &vfv1alpha1.Rollout{Targets: []vfv1alpha1.RolloutTarget{{Kind: "Deployment", Name: "web"}}}
	operator.Create(t, env.Client, creds, store, es)

	v1 := operator.WaitSynced(t, env.Client, es, "").Status.CurrentSecretName
	secret := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: v1}, secret); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(secret.Data[corev1.TLSCertKey])
	if secret.Type != corev1.SecretTypeTLS || block == nil || len(secret.Data[corev1.TLSPrivateKeyKey]) == 0 || len(secret.Data["ca.crt"]) == 0 {
		t.Fatalf("version %s: type %s, keys %v", v1, secret.Type, keysOf(secret.Data))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || cert.Subject.CommonName != "web.example.test" || !slices.Contains(cert.DNSNames, "api.example.test") {
		t.Fatalf("certificate: %v %+v", err, cert)
	}
	web := deploymentUsing(ns, "web", v1)
	operator.Create(t, env.Client, web)
	generation := web.Generation

	// Reissued 12 s before the 30 s certificate expires: once, one rollout.
	v2 := operator.WaitSynced(t, env.Client, es, v1).Status.CurrentSecretName
	if time.Until(cert.NotAfter) < 5*time.Second {
		t.Errorf("reissued only %v before the old certificate expires, want about 12s", time.Until(cert.NotAfter))
	}
	moved := operator.WaitFor(t, env.Client, web, "web moved to "+v2, func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Spec.Volumes[0].Secret.SecretName == v2
	})
	if moved.Generation != generation+1 {
		t.Errorf("the Deployment went from generation %d to %d: want exactly one rollout", generation, moved.Generation)
	}
}

func deploymentUsing(ns, name, secret string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1", VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/tls"}}}},
			Volumes:    []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}},
		}},
	}}
}
