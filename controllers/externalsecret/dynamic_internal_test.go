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
