package podrefs

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestSecretReferences(t *testing.T) {
	ref := func(name string) corev1.LocalObjectReference { return corev1.LocalObjectReference{Name: name} }
	keyRef := func(name string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: ref(name), Key: "k"}}
	}
	spec := &corev1.PodSpec{
		Volumes: []corev1.Volume{
			{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: ref("not-a-secret")}}},
			{Name: "a", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "vol"}}},
			{Name: "b", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: ref("not-a-secret")}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: ref("projected")}}}}}},
		},
		InitContainers: []corev1.Container{{EnvFrom: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: ref("not-a-secret")}},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: ref("init-envfrom")}}}}},
		Containers: []corev1.Container{{}, {Env: []corev1.EnvVar{{Name: "PLAIN", Value: "not-a-secret"}, {Name: "X", ValueFrom: keyRef("env")}}}},
		EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Env: []corev1.EnvVar{{Name: "D", ValueFrom: keyRef("debug")}}}}},
		ImagePullSecrets: []corev1.LocalObjectReference{ref("pull")},
	}
	want := []Reference{
		{"/volumes/1/secret/secretName", "vol"},
		{"/volumes/2/projected/sources/1/secret/name", "projected"},
		{"/imagePullSecrets/0/name", "pull"},
		{"/initContainers/0/envFrom/1/secretRef/name", "init-envfrom"},
		{"/containers/1/env/1/valueFrom/secretKeyRef/name", "env"},
		{"/ephemeralContainers/0/env/0/valueFrom/secretKeyRef/name", "debug"},
	}
	if diff := cmp.Diff(want, SecretReferences(spec)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"vol", "projected", "pull", "init-envfrom", "env", "debug"}, Names(spec)); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
	if !References(spec, "debug") || References(spec, "not-a-secret") {
		t.Errorf("References disagrees with SecretReferences")
	}
}

func TestPinAnnotation(t *testing.T) {
	long := strings.Repeat("a", 50) + "-" + strings.Repeat("b", 20)
	cases := map[string]string{
		"db-credentials":          "vaultferry.io/version.db-credentials",
		strings.Repeat("x", 55):   "vaultferry.io/version." + strings.Repeat("x", 55),
		long:                      "vaultferry.io/version." + strings.Repeat("a", 44) + "-" + PinAnnotation(long)[len(PinAnnotation(long))-10:],
		long[:43] + "--" + "tail": "", // checked below: no "--" or trailing '-' from the cut
	}
	for base, want := range cases {
		got := PinAnnotation(base)
		name := strings.TrimPrefix(got, "vaultferry.io/")
		if len(name) > 63 || strings.HasSuffix(name, "-") {
			t.Errorf("PinAnnotation(%q) = %q: not a valid annotation name", base, got)
		}
		if want != "" && got != want {
			t.Errorf("PinAnnotation(%q) = %q, want %q", base, got, want)
		}
	}
	if PinAnnotation(long) == PinAnnotation(long+"c") {
		t.Errorf("two long names share a pin annotation")
	}
}
