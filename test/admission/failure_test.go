package admission

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// The shipped policies, renamed and pointed at a parameter kind this test
// creates and then deletes (as when the CRDs are removed before the
// policies): Pod creation must go on in every namespace.
func TestPodsAreCreatedWhenThePoliciesCannotEvaluate(t *testing.T) {
	policies(t)
	ctx := context.Background()
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "probes.vaultferry.test"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "vaultferry.test", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "probes", Singular: "probe", Kind: "Probe", ListKind: "ProbeList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: new(true)}}}},
		},
	}
	scheme := testenv.Scheme() // not env.Scheme: the running TargetIndex controller reads it
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, crd); err != nil {
		t.Fatal(err)
	}
	for _, obj := range orphanedPolicies(t) {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
		t.Cleanup(func() { _ = c.Delete(context.Background(), obj) })
	}
	time.Sleep(3 * time.Second) // the API server loads policies asynchronously
	if err := c.Delete(ctx, crd); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for err := c.Get(ctx, client.ObjectKeyFromObject(crd), crd); !apierrors.IsNotFound(err); err = c.Get(ctx, client.ObjectKeyFromObject(crd), crd) {
		if time.Now().After(deadline) {
			t.Fatalf("CRD not deleted: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ns := env.Namespace(t, nil)
	for i := range 5 {
		pod := fixtures.PodUsingSecrets(ns, "still-created", "db-credentials")
		pod.Name += "-" + string(rune('a'+i))
		if err := env.Client.Create(ctx, pod); err != nil {
			t.Fatalf("Pod refused while the policies' parameter kind is gone: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// orphanedPolicies reads the shipped policies, renamed *-orphaned, with
// Probe as their parameter kind.
func orphanedPolicies(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(testenv.StableReferencesPolicies())
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			t.Fatal(err)
		}
		obj.SetName(obj.GetName() + "-orphaned")
		if name, found, _ := unstructured.NestedString(obj.Object, "spec", "policyName"); found {
			_ = unstructured.SetNestedField(obj.Object, name+"-orphaned", "spec", "policyName")
		}
		if _, found, _ := unstructured.NestedMap(obj.Object, "spec", "paramKind"); found {
			_ = unstructured.SetNestedField(obj.Object, map[string]any{"apiVersion": "vaultferry.test/v1", "kind": "Probe"}, "spec", "paramKind")
		}
		out = append(out, obj)
	}
	return out
}
