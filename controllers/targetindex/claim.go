package targetindex

import (
	"slices"
	"strings"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// Holder is the ExternalSecret that holds target in its namespace: of the
// ExternalSecrets naming it (not being deleted), the one that already has a
// version of it, else the one created first; the name only breaks a tie of
// both. So a newcomer naming a held target never takes it over, whatever its
// name, and re-creating a newcomer makes it younger, never older. The
// others get TargetConflict and write nothing. ok is false when nobody
// names target. No I/O.
func Holder(target string, externalSecrets []*vfv1alpha1.ExternalSecret) (holder *vfv1alpha1.ExternalSecret, ok bool) {
	var claimants []*vfv1alpha1.ExternalSecret
	for _, es := range externalSecrets {
		if es.DeletionTimestamp.IsZero() && es.TargetBaseName() == target {
			claimants = append(claimants, es)
		}
	}
	if len(claimants) == 0 {
		return nil, false
	}
	return slices.MinFunc(claimants, firstClaim), true
}

// firstClaim orders claimants of one target: a holder of a version first,
// then by creation, then by name.
func firstClaim(a, b *vfv1alpha1.ExternalSecret) int {
	if ha, hb := holdsVersion(a), holdsVersion(b); ha != hb {
		if ha {
			return -1
		}
		return 1
	}
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// holdsVersion reports whether es's current version is one of its target:
// the target itself for a mutable target, a <target>-<hash> version else.
func holdsVersion(es *vfv1alpha1.ExternalSecret) bool {
	current, base := es.Status.CurrentSecretName, es.TargetBaseName()
	if !es.IsImmutable() {
		return current == base
	}
	return strings.HasPrefix(current, base+"-")
}
