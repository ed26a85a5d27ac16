package externalsecret

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
)

// countingController records the sources it is asked to watch.
type countingController struct {
	controller.Controller
	watched int
}

func (c *countingController) Watch(source.TypedSource[reconcile.Request]) error {
	c.watched++
	return nil
}

// Template sources are watched from the first ExternalSecret with
// templateFrom on, once: a cluster's Secrets and ConfigMaps cost memory only
// where templates read them.
func TestTemplateSourcesAreWatchedOnlyOnceNeeded(t *testing.T) {
	ctrl := &countingController{}
	r := &Reconciler{controller: ctrl, TemplateSources: struct{ cache.Cache }{}}

	plain := fixtures.ExternalSecret("ns", "plain")
	inline := fixtures.ExternalSecret("ns", "inline", fixtures.WithTemplate(map[string]string{"dsn": "{{ .password }}"}))
	for _, es := range []*vfv1alpha1.ExternalSecret{plain, inline} {
		if err := r.watchTemplateSources(es); err != nil {
			t.Fatal(err)
		}
	}
	if ctrl.watched != 0 {
		t.Fatalf("watched %d template source kinds with no templateFrom in use", ctrl.watched)
	}

	fromConfigMap := fixtures.ExternalSecret("ns", "templated")
	fromConfigMap.Spec.Target.Template = &vfv1alpha1.SecretTemplate{TemplateFrom: []vfv1alpha1.TemplateFrom{{
		ConfigMap: &vfv1alpha1.TemplateSourceRef{Name: "tpl", Items: []vfv1alpha1.TemplateSourceItem{{Key: "k"}}}}}}
	for range 3 {
		if err := r.watchTemplateSources(fromConfigMap); err != nil {
			t.Fatal(err)
		}
	}
	if ctrl.watched != 2 {
		t.Errorf("watched %d sources, want ConfigMaps and Secrets once each", ctrl.watched)
	}
}
