package targetindex

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
)

// The first claim on a target holds it: a version, then creation time,
// decide; a name that sorts first, a re-created newcomer or a mutable
// newcomer never take a target over.
func TestHolder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	claim := func(name string, created time.Duration, current string, opts ...fixtures.ExternalSecretOption) *vfv1alpha1.ExternalSecret {
		es := fixtures.ExternalSecret("ns", name, append([]fixtures.ExternalSecretOption{fixtures.WithTarget("db")}, opts...)...)
		es.CreationTimestamp = metav1.NewTime(t0.Add(created))
		es.Status.CurrentSecretName = current
		return es
	}
	deleting := claim("aaa-deleting", 0, "db-1111111111")
	deleting.DeletionTimestamp = &metav1.Time{Time: t0}
	cases := []struct {
		name      string
		claimants []*vfv1alpha1.ExternalSecret
		want      string
	}{
		{"the synced one keeps it against a name that sorts first", []*vfv1alpha1.ExternalSecret{
			claim("db", time.Minute, "db-1111111111"), claim("aaa", 0, "")}, "db"},
		{"a re-created newcomer is younger, not older", []*vfv1alpha1.ExternalSecret{
			claim("platform", 0, ""), claim("aaa", time.Hour, "")}, "platform"},
		{"before any version, the first created", []*vfv1alpha1.ExternalSecret{
			claim("zzz", 0, ""), claim("aaa", time.Second, "")}, "zzz"},
		{"created in the same second: the name breaks the tie", []*vfv1alpha1.ExternalSecret{
			claim("b", 0, ""), claim("a", 0, "")}, "a"},
		{"a version of another target does not count", []*vfv1alpha1.ExternalSecret{
			claim("renamed", time.Hour, "old-2222222222"), claim("first", 0, "")}, "first"},
		{"a mutable holder keeps it against an immutable newcomer", []*vfv1alpha1.ExternalSecret{
			claim("mutable", time.Hour, "db", fixtures.WithMutableTarget()), claim("aaa", 0, "")}, "mutable"},
		{"one being deleted holds nothing", []*vfv1alpha1.ExternalSecret{deleting, claim("next", time.Hour, "")}, "next"},
		{"two with versions (written before first claim was kept): the older", []*vfv1alpha1.ExternalSecret{
			claim("aaa", time.Hour, "db-3333333333"), claim("db", 0, "db-1111111111")}, "db"},
	}
	for _, tc := range cases {
		holder, ok := Holder("db", tc.claimants)
		if !ok || holder.Name != tc.want {
			t.Errorf("%s: holder %v, want %s", tc.name, holder, tc.want)
		}
	}
	if _, ok := Holder("other", []*vfv1alpha1.ExternalSecret{claim("db", 0, "")}); ok {
		t.Error("a target nobody names has a holder")
	}
}
