// Package podrefs is the one place that knows where a pod spec names a
// Secret. Pruning (what is in use), rollout (what to move) and the admission
// policy tests (what a Pod's references resolve to) all walk pod specs with
// it, so they cannot disagree.
package podrefs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// Reference is one place in a pod spec that names a Secret.
type Reference struct {
	// Path is the JSON pointer of the name, relative to the pod spec
	// (for example /volumes/0/secret/secretName).
	Path string
	// Name is the Secret's name.
	Name string
}

// SecretReferences lists every Secret reference in spec, in a stable order:
// secret volumes, projected volume sources, image pull secrets, then env and
// envFrom of init, regular and ephemeral containers.
func SecretReferences(spec *corev1.PodSpec) []Reference {
	var refs []Reference
	add := func(name string, format string, args ...any) {
		refs = append(refs, Reference{Path: fmt.Sprintf(format, args...), Name: name})
	}
	for i, v := range spec.Volumes {
		if v.Secret != nil {
			add(v.Secret.SecretName, "/volumes/%d/secret/secretName", i)
		}
		if v.Projected != nil {
			for j, src := range v.Projected.Sources {
				if src.Secret != nil {
					add(src.Secret.Name, "/volumes/%d/projected/sources/%d/secret/name", i, j)
				}
			}
		}
	}
	for i, s := range spec.ImagePullSecrets {
		add(s.Name, "/imagePullSecrets/%d/name", i)
	}
	// A container's path is /<field>/<index>; their env lists are alike.
	env := func(container string, vars []corev1.EnvVar, from []corev1.EnvFromSource) {
		for j, e := range vars {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				add(e.ValueFrom.SecretKeyRef.Name, "%s/env/%d/valueFrom/secretKeyRef/name", container, j)
			}
		}
		for j, e := range from {
			if e.SecretRef != nil {
				add(e.SecretRef.Name, "%s/envFrom/%d/secretRef/name", container, j)
			}
		}
	}
	for i, c := range spec.InitContainers {
		env(fmt.Sprintf("/initContainers/%d", i), c.Env, c.EnvFrom)
	}
	for i, c := range spec.Containers {
		env(fmt.Sprintf("/containers/%d", i), c.Env, c.EnvFrom)
	}
	for i, c := range spec.EphemeralContainers {
		env(fmt.Sprintf("/ephemeralContainers/%d", i), c.Env, c.EnvFrom)
	}
	return refs
}

// Names lists the Secrets spec names, in the order of SecretReferences.
func Names(spec *corev1.PodSpec) []string {
	refs := SecretReferences(spec)
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.Name
	}
	return names
}

// References says whether spec names the Secret name.
func References(spec *corev1.PodSpec, name string) bool {
	for _, r := range SecretReferences(spec) {
		if r.Name == name {
			return true
		}
	}
	return false
}

// maxPinTarget is the longest target name that fits the pin annotation key
// as it is: an annotation name is at most 63 characters after the prefix
// "vaultferry.io/", and "version." takes 8 of them.
const maxPinTarget = 63 - len("version.")

// PinAnnotation is the pod annotation that pins a version of the target
// named base. A base too long for an annotation key is shortened to a
// prefix and a hash of the whole name, so two long names never share a pin.
func PinAnnotation(base string) string {
	if len(base) <= maxPinTarget {
		return vfv1alpha1.PinAnnotationPrefix + base
	}
	sum := sha256.Sum256([]byte(base))
	prefix := strings.TrimRight(base[:maxPinTarget-11], "-.")
	return vfv1alpha1.PinAnnotationPrefix + prefix + "-" + hex.EncodeToString(sum[:])[:10]
}

// Pins lists the versions pinned by the pin annotations in annotations.
func Pins(annotations map[string]string) []string {
	var out []string
	for k, v := range annotations {
		if strings.HasPrefix(k, vfv1alpha1.PinAnnotationPrefix) {
			out = append(out, v)
		}
	}
	return out
}
