package controllers

import (
	"context"
	"fmt"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingadmissionpolicies,verbs=get

// The --stable-references modes.
const (
	// StableReferencesAuto uses the admission policies when the cluster
	// serves MutatingAdmissionPolicy (Kubernetes 1.36+) and they are installed.
	StableReferencesAuto = "auto"
	// StableReferencesAdmission pins versions on pod templates for the
	// admission policies to resolve (config/admission, or the chart).
	StableReferencesAdmission = "admission"
	// StableReferencesRewrite only rewrites references to older versions in
	// rollout targets: for clusters without the policy API.
	StableReferencesRewrite = "rewrite"
)

// StableReferencesPolicy is the name of the shipped admission policies.
const StableReferencesPolicy = "vaultferry-stable-references"

// stableReferences decides whether rollouts pin versions for the admission
// policies, and logs the mode once.
func stableReferences(ctx context.Context, cfg *rest.Config, c client.Client, mode string) (bool, error) {
	log := ctrl.Log.WithName("setup")
	switch mode {
	case StableReferencesAdmission:
		log.Info("Stable references: admission mode (--stable-references=admission): Pods naming a target get its pinned or current version at admission")
		return true, nil
	case StableReferencesRewrite:
		log.Info("Stable references: rewrite mode (--stable-references=rewrite): rollout targets have references to older versions rewritten")
		return false, nil
	case StableReferencesAuto, "":
	default:
		return false, fmt.Errorf("--stable-references=%q: want auto, admission or rewrite", mode)
	}
	served, err := servesMutatingAdmissionPolicy(cfg)
	if err != nil {
		return false, err
	}
	if !served {
		log.Info("Stable references: rewrite mode: this cluster does not serve admissionregistration.k8s.io/v1 MutatingAdmissionPolicy (Kubernetes 1.36+); rollout targets have references to older versions rewritten")
		return false, nil
	}
	err = c.Get(ctx, client.ObjectKey{Name: StableReferencesPolicy}, &admissionregistrationv1.MutatingAdmissionPolicy{})
	switch {
	case apierrors.IsNotFound(err):
		log.Info("Stable references: rewrite mode: MutatingAdmissionPolicy " + StableReferencesPolicy + " is not installed (install config/admission or the chart)")
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading MutatingAdmissionPolicy %s: %w", StableReferencesPolicy, err)
	}
	log.Info("Stable references: admission mode: MutatingAdmissionPolicy " + StableReferencesPolicy + " resolves Pods naming a target to its pinned or current version")
	return true, nil
}

func servesMutatingAdmissionPolicy(cfg *rest.Config) (bool, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, err
	}
	resources, err := dc.ServerResourcesForGroupVersion(admissionregistrationv1.SchemeGroupVersion.String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("discovering %s: %w", admissionregistrationv1.SchemeGroupVersion, err)
	}
	return slices.ContainsFunc(resources.APIResources, func(r metav1.APIResource) bool { return r.Name == "mutatingadmissionpolicies" }), nil
}
