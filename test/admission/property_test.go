package admission

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vaultferry/vaultferry/controllers/podrefs"
	"github.com/vaultferry/vaultferry/test/fixtures"
)

// shape builds a random valid Pod whose Secret, ConfigMap and plain-value
// references are drawn from names.
type shape struct {
	r     *rand.Rand
	names []string
}

func (s shape) name() string { return s.names[s.r.IntN(len(s.names))] }

func (s shape) container(prefix string, i int) corev1.Container {
	c := corev1.Container{Name: fmt.Sprintf("%s-%d", prefix, i), Image: "registry.example/app:1"}
	for j := range s.r.IntN(6) {
		e := corev1.EnvVar{Name: fmt.Sprintf("V%d", j)}
		switch s.r.IntN(4) {
		case 0:
			e.Value = s.name()
		case 1:
			e.ValueFrom = &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: s.name()}, Key: "k"}}
		case 2:
			e.ValueFrom = &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}
		default:
			e.ValueFrom = &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: s.name()}, Key: "k", Optional: new(s.r.IntN(2) == 0)}}
		}
		c.Env = append(c.Env, e)
	}
	for range s.r.IntN(3) {
		if s.r.IntN(2) == 0 {
			c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: s.name()}}})
		} else {
			c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{Prefix: "P_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: s.name()}}})
		}
	}
	return c
}

func (s shape) pod(namespace string) *corev1.Pod {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, GenerateName: "shape-"}}
	for i := range s.r.IntN(3) {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, s.container("init", i))
	}
	for i := range s.r.IntN(3) + 1 { // a Pod has at least one container
		pod.Spec.Containers = append(pod.Spec.Containers, s.container("app", i))
	}
	for i := range s.r.IntN(6) {
		v := corev1.Volume{Name: fmt.Sprintf("vol-%d", i)}
		switch s.r.IntN(4) {
		case 0:
			v.Secret = &corev1.SecretVolumeSource{SecretName: s.name()}
		case 1:
			v.ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: s.name()}}
		case 2:
			v.EmptyDir = &corev1.EmptyDirVolumeSource{}
		default:
			p := &corev1.ProjectedVolumeSource{}
			for range s.r.IntN(4) {
				if s.r.IntN(2) == 0 {
					p.Sources = append(p.Sources, corev1.VolumeProjection{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: s.name()}}})
				} else {
					p.Sources = append(p.Sources, corev1.VolumeProjection{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: s.name()}}})
				}
			}
			v.Projected = p
		}
		pod.Spec.Volumes = append(pod.Spec.Volumes, v)
	}
	for range s.r.IntN(3) {
		pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s.name()})
	}
	if s.r.IntN(4) == 0 {
		pod.Annotations = map[string]string{"example.com/note": s.name()}
	}
	return pod
}

// namespaceWithTargets creates a namespace holding the ExternalSecrets every
// shape is admitted against: synced, unsynced, mutable ones.
func namespaceWithTargets(t *testing.T, ctx context.Context) string {
	t.Helper()
	ns := env.Namespace(t, nil)
	syncedExternalSecret(t, ctx, ns)
	for i := range 10 {
		es := fixtures.ExternalSecret(ns, fmt.Sprintf("es-%d", i), fixtures.WithTarget(fmt.Sprintf("target-%d", i)))
		if i%2 == 1 {
			es = fixtures.ExternalSecret(ns, es.Name, fixtures.WithTarget(es.Spec.Target.Name), fixtures.WithMutableTarget())
		}
		if err := env.Client.Create(ctx, es); err != nil {
			t.Fatal(err)
		}
		if i < 8 {
			if err := env.SetSynced(ctx, es, fmt.Sprintf("target-%d-abcdefghij", i)); err != nil {
				t.Fatal(err)
			}
		} else {
			indexed(t, es)
		}
	}
	return ns
}

// A Pod that names no immutable target of its namespace is admitted exactly
// as it is admitted in a namespace without ExternalSecrets, whatever its shape.
func TestPodsNamingNothingOfOursAreNeverChangedOrRefused(t *testing.T) {
	policies(t)
	ctx := context.Background()
	ns := namespaceWithTargets(t, ctx)
	control := env.Namespace(t, nil)
	// Names of ConfigMaps and plain values may be anything, including our
	// targets: only Secret references count. Secret names avoid base and
	// target-8 (unsynced, refused on purpose) but include versions, mutable
	// targets and near misses.
	s := shape{r: rand.New(rand.NewPCG(1, 2)), names: []string{"unrelated", current, older, "target-1", "target-3", "target-0-abcdefghij", "db-credentials-x", "x-db-credentials", "db-credentials.example"}}
	for i := range 200 {
		pod := s.pod(ns)
		admitted, inControl := pod.DeepCopy(), pod.DeepCopy()
		inControl.Namespace = control
		if err := env.Client.Create(ctx, admitted, client.DryRunAll); err != nil {
			t.Fatalf("shape %d refused: %v\n%+v", i, err, pod.Spec)
		}
		if err := env.Client.Create(ctx, inControl, client.DryRunAll); err != nil {
			t.Fatalf("shape %d refused without ExternalSecrets: %v", i, err)
		}
		if !equality.Semantic.DeepEqual(admitted.Spec, inControl.Spec) || !equality.Semantic.DeepEqual(admitted.Annotations, inControl.Annotations) {
			t.Fatalf("shape %d was changed at admission:\n got %+v\nwant %+v", i, admitted.Spec, inControl.Spec)
		}
	}
}

// Whatever the shape, admission rewrites exactly the Secret references the
// operator's walker (podrefs) finds: pruning, rollout and admission agree.
func TestAdmissionRewritesWhatTheWalkerFinds(t *testing.T) {
	policies(t)
	ctx := context.Background()
	ns := namespaceWithTargets(t, ctx)
	s := shape{r: rand.New(rand.NewPCG(3, 4)), names: []string{base, base, "unrelated", older, "target-0", "target-1", "target-2"}}
	for i := range 200 {
		pod := s.pod(ns)
		want := podrefs.SecretReferences(&pod.Spec)
		for j := range want {
			switch want[j].Name {
			case base:
				want[j].Name = current
			case "target-0", "target-2":
				want[j].Name += "-abcdefghij"
			}
		}
		if err := env.Client.Create(ctx, pod, client.DryRunAll); err != nil {
			t.Fatalf("shape %d refused: %v", i, err)
		}
		assertReferences(t, pod, want)
	}
}

// Huge Pods are admitted within the policies' CEL cost budget: one naming
// only other Secrets 10,200 times is left as it is, one naming a target 1,100
// times (far beyond any real Pod) has every reference resolved.
func TestHugePodsAreAdmitted(t *testing.T) {
	policies(t)
	ctx := context.Background()
	ns := namespaceWithTargets(t, ctx)
	for _, tc := range []struct {
		secret                string
		perContainer, volumes int
	}{{"unrelated", 250, 200}, {base, 25, 100}} {
		secret := tc.secret
		s := shape{r: rand.New(rand.NewPCG(5, 6)), names: []string{secret}}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "huge-"}}
		for i := range 40 {
			c := s.container("app", i)
			for j := range tc.perContainer {
				c.Env = append(c.Env, corev1.EnvVar{Name: fmt.Sprintf("S%d", j), ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "k"}}})
			}
			pod.Spec.Containers = append(pod.Spec.Containers, c)
		}
		for i := range tc.volumes {
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: fmt.Sprintf("v-%d", i), VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}})
		}
		want := wantReferences(pod, base, current)
		if err := env.Client.Create(ctx, pod, client.DryRunAll); err != nil {
			t.Fatalf("a Pod with %d references to %s refused: %v", 40*tc.perContainer+tc.volumes, secret, err)
		}
		assertReferences(t, pod, want)
	}
}
