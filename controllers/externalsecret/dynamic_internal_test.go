package externalsecret

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// When a lease is renewed and when its credentials are replaced: a lease
// renewals keep extending is never replaced early; one that can no longer
// be extended is replaced reissueBefore its end; an expired one at once.
func TestLeaseTiming(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	renewable := leaseTerms{id: "x", renewed: t0, expires: t0.Add(time.Hour), ttl: time.Hour, renewable: true}
	capped := renewable
	capped.renewable = false
	tenMinutes := &metav1.Duration{Duration: 10 * time.Minute}
	cases := []struct {
		name   string
		terms  leaseTerms
		now    time.Time
		before *metav1.Duration
		ending bool
	}{
		{"renewable, at two thirds", renewable, t0.Add(40 * time.Minute), nil, false},
		{"renewable, a minute before the end", renewable, t0.Add(59 * time.Minute), nil, false},
		{"renewable, expired", renewable, t0.Add(time.Hour), nil, true},
		{"capped, before a third of the TTL is left", capped, t0.Add(39 * time.Minute), nil, false},
		{"capped, a third of the TTL left", capped, t0.Add(40 * time.Minute), nil, true},
		{"capped, reissueBefore 10m, 15m left", capped, t0.Add(45 * time.Minute), tenMinutes, false},
		{"capped, reissueBefore 10m, 10m left", capped, t0.Add(50 * time.Minute), tenMinutes, true},
	}
	for _, tc := range cases {
		if got := tc.terms.ending(tc.now, tc.before); got != tc.ending {
			t.Errorf("%s: ending = %v, want %v", tc.name, got, tc.ending)
		}
	}
	at := renewable.renewAt(67, "seed")
	if at.Before(t0.Add(36*time.Minute)) || at.After(t0.Add(40*time.Minute+12*time.Second)) {
		t.Errorf("renewAt at 67%% of 1h = %v after the renewal, want about 40m, jittered earlier by at most 10%%", at.Sub(t0))
	}

	// Terms survive a round trip through the version's annotations (a restart).
	s := &corev1.Secret{}
	renewable.annotate(s)
	back, ok := leaseOf(s)
	if !ok || back != renewable {
		t.Errorf("annotations round trip: %+v, %v; want %+v", back, ok, renewable)
	}
	if _, ok := leaseOf(&corev1.Secret{}); ok {
		t.Error("a version without annotations has a lease")
	}

	pki := &vfv1alpha1.DynamicSource{Path: "pki/issue/web", PKI: &vfv1alpha1.PKICertificate{CommonName: "a", AltNames: []string{"b", "c"}, IPSANs: []string{"10.0.0.1"},
		TTL: &metav1.Duration{Duration: 24 * time.Hour}}}
	req := issueRequest(pki, "ns")
	if !req.Write || req.Parameters["common_name"] != "a" || req.Parameters["alt_names"] != "b,c" || req.Parameters["ip_sans"] != "10.0.0.1" || req.Parameters["ttl"] != "24h0m0s" {
		t.Errorf("pki request: %+v", req)
	}
	data := dynamicData(pki, map[string][]byte{"certificate": []byte("C"), "private_key": []byte("K"), "issuing_ca": []byte("A"), "serial_number": []byte("S")})
	if string(data["tls.crt"]) != "C" || string(data["tls.key"]) != "K" || string(data["ca.crt"]) != "A" || len(data) != 3 {
		t.Errorf("tls data: %v", data)
	}
}

// Annotations of an immutable Secret stay editable by whoever may edit
// Secrets in the namespace. A lease id the operator did not record for this
// ExternalSecret (another one's, another namespace's, a path written in)
// is never renewed or revoked: the binding does not match.
func TestOnlyBoundLeasesAreActedOn(t *testing.T) {
	r := &Reconciler{HashKey: []byte("operator-key")}
	es := &vfv1alpha1.ExternalSecret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "db"}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	issued := func(owner *vfv1alpha1.ExternalSecret, id string) *corev1.Secret {
		s := &corev1.Secret{}
		leaseTerms{id: id, renewed: t0, expires: t0.Add(time.Hour), ttl: time.Hour, renewable: true, binding: leaseBinding(r.HashKey, owner, id)}.annotate(s)
		return s
	}
	own := issued(es, "database/creds/app/AbC123")
	if _, ok := r.ownLease(es, own); !ok {
		t.Fatal("the operator's own lease is not recognised")
	}
	cert := &corev1.Secret{}
	leaseTerms{renewed: t0, expires: t0.Add(time.Hour), ttl: time.Hour}.annotate(cert)
	if _, ok := r.ownLease(es, cert); !ok {
		t.Error("a certificate version (no lease id) is not recognised")
	}
	other := es.DeepCopy()
	other.Namespace = "team-b"
	swapped := own.DeepCopy()
	swapped.Annotations[vfv1alpha1.LeaseIDAnnotation] = "database/creds/app/TeamBLease"
	unbound := own.DeepCopy()
	delete(unbound.Annotations, vfv1alpha1.LeaseBindingAnnotation)
	for name, s := range map[string]*corev1.Secret{
		"a lease id written over the operator's":        swapped,
		"a lease without its binding (older versions)":  unbound,
		"another namespace's lease, bound there":        issued(other, "database/creds/app/AbC123"),
		"another ExternalSecret's lease":                issued(&vfv1alpha1.ExternalSecret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "api"}}, "database/creds/app/AbC123"),
		"a bound lease id that is not a canonical path": issued(es, "database/creds/../../sys/leases/x"),
		"a bound lease id under a Vault system backend": issued(es, "sys/leases/lookup/x"),
		"a bound lease id without a path":               issued(es, "AbC123"),
	} {
		if _, ok := r.ownLease(es, s); ok {
			t.Errorf("%s: recognised as the operator's own", name)
		}
	}
}
