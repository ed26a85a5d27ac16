package fake_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/providers/providertest"
)

func TestConformance(t *testing.T) {
	var data []vfv1alpha1.FakeProviderData
	credential := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "fake-token"},
		Data:       map[string][]byte{"token": []byte("open-sesame")},
	}
	kube := providertest.Kube(credential)
	store := func(token string) func(*testing.T) (vfv1alpha1.GenericStore, providers.Kube, string) {
		return func(*testing.T) (vfv1alpha1.GenericStore, providers.Kube, string) {
			s := &vfv1alpha1.SecretStore{
				ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "store"},
				Spec: vfv1alpha1.SecretStoreSpec{Provider: vfv1alpha1.SecretStoreProvider{Fake: &vfv1alpha1.FakeProvider{
					Data:          data,
					AuthSecretRef: &vfv1alpha1.SecretKeySelector{Name: "fake-token", Key: "token"},
					Token:         token,
				}}},
			}
			return s, kube, "team"
		}
	}
	providertest.Run(t, providertest.Harness{
		Provider: fake.New(),
		Seed: func(_ *testing.T, key string, value []byte) string {
			version := fmt.Sprintf("v%d", len(data)+1)
			data = append(data, vfv1alpha1.FakeProviderData{Key: key, Value: string(value), Version: version})
			return version
		},
		Tag: func(_ *testing.T, key string, tags map[string]string) {
			for i := range data {
				if data[i].Key == key {
					data[i].Tags = tags
				}
			}
		},
		Store:          store("open-sesame"),
		BadCredentials: store("wrong"),
	})
}
