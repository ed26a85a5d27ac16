package externalsecret

import (
	"slices"
	"time"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// pruneCandidates returns the versions retention no longer asks to keep:
// not the current one, not among the newest limit versions (the current one
// counts), and superseded longer than minRetention ago. Whether a workload
// still uses them is checked by the caller. versions must be sorted newest
// first. No I/O, no clock.
func pruneCandidates(versions []vfv1alpha1.SecretVersion, current string, limit int, minRetention time.Duration, now time.Time) []string {
	var out []string
	kept := 0
	for _, v := range versions {
		if v.Name == current || kept < limit {
			kept++
			continue
		}
		if v.SupersededAt != nil && now.Sub(v.SupersededAt.Time) < minRetention {
			continue
		}
		out = append(out, v.Name)
	}
	return out
}

// sortNewestFirst orders versions by revision, the only reliable order:
// creation time ties within a second and a reverted-to version is re-stamped.
func sortNewestFirst(versions []vfv1alpha1.SecretVersion) {
	slices.SortStableFunc(versions, func(a, b vfv1alpha1.SecretVersion) int {
		switch {
		case a.Revision > b.Revision:
			return -1
		case a.Revision < b.Revision:
			return 1
		}
		return 0
	})
}
