package targetindex

import (
	"fmt"
	"slices"
	"strings"

	apimeta "k8s.io/apimachinery/pkg/api/meta"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/podrefs"
)

// Entry is what one target contributes to its namespace's TargetIndex.
type Entry struct {
	// Current is the value in TargetIndex.Targets: the version new Pods get,
	// the held one while a hold is in effect ("" before the first version).
	Current string
	// Versions is the value in TargetIndex.Versions: kept versions,
	// space-separated, the current one first.
	Versions string
	// Pending is the value in TargetIndex.Pending ("" once synced).
	Pending string
	// PinAnnotation is the value in TargetIndex.PinAnnotations ("" when
	// the target uses the default vaultferry.io/version.<target>).
	PinAnnotation string
}

// EntryOf is what es contributes to its namespace's index under target;
// ok is false when it contributes nothing (a mutable target, an
// ExternalSecret being deleted, a shadowed target before its first version).
// No I/O.
func EntryOf(es *vfv1alpha1.ExternalSecret) (target string, entry Entry, ok bool) {
	base := es.TargetBaseName()
	current := es.ServedVersion()
	if !strings.HasPrefix(current, base+"-") {
		current = "" // a version of another base: target.name was just edited
	}
	switch {
	case !es.IsImmutable(), !es.DeletionTimestamp.IsZero():
		return "", Entry{}, false
	case current == "" && es.Status.ShadowedSecret == base:
		return "", Entry{}, false // Pods keep using the Secret that holds the name
	}
	if pin := podrefs.PinAnnotation(base); pin != vfv1alpha1.PinAnnotationPrefix+base {
		entry.PinAnnotation = pin
	}
	if current == "" {
		reason := "not reconciled yet"
		if ready := apimeta.FindStatusCondition(es.Status.Conditions, vfv1alpha1.ReadyCondition); ready != nil {
			reason = ready.Reason
		}
		entry.Pending = fmt.Sprintf("ExternalSecret %s (Ready reason: %s)", es.Name, reason)
		return base, entry, true
	}
	versions := []string{current}
	for _, v := range es.Status.Versions {
		if strings.HasPrefix(v.Name, base+"-") && !slices.Contains(versions, v.Name) {
			versions = append(versions, v.Name)
		}
	}
	entry.Current, entry.Versions = current, strings.Join(versions, " ")
	return base, entry, true
}

// Lookup reads target's entry back from an index.
func Lookup(index *vfv1alpha1.TargetIndex, target string) (Entry, bool) {
	current, ok := index.Targets[target]
	return Entry{Current: current, Versions: index.Versions[target], Pending: index.Pending[target], PinAnnotation: index.PinAnnotations[target]}, ok
}

// Build computes a namespace's index from its ExternalSecrets. A target
// named by several gets the entry of its Holder (the others have
// TargetConflict), so the index never flips between them. No I/O.
func Build(namespace string, externalSecrets []vfv1alpha1.ExternalSecret) *vfv1alpha1.TargetIndex {
	byTarget := map[string][]*vfv1alpha1.ExternalSecret{}
	for i := range externalSecrets {
		es := &externalSecrets[i]
		byTarget[es.TargetBaseName()] = append(byTarget[es.TargetBaseName()], es)
	}
	entries := map[string]Entry{}
	for target, claimants := range byTarget {
		holder, ok := Holder(target, claimants)
		if !ok {
			continue
		}
		if _, entry, ok := EntryOf(holder); ok {
			entries[target] = entry
		}
	}
	index := &vfv1alpha1.TargetIndex{}
	index.Namespace, index.Name = namespace, vfv1alpha1.TargetIndexName
	for target, e := range entries {
		index.Targets = setKey(index.Targets, target, e.Current)
		if e.Versions != "" {
			index.Versions = setKey(index.Versions, target, e.Versions)
		}
		if e.Pending != "" {
			index.Pending = setKey(index.Pending, target, e.Pending)
		}
		if e.PinAnnotation != "" {
			index.PinAnnotations = setKey(index.PinAnnotations, target, e.PinAnnotation)
		}
	}
	index.TargetCount = len(entries)
	return index
}

func setKey(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}
