//go:build tools

// Package kube pins the Kubernetes release whose kube-apiserver and kubectl the
// tests run against. setup-envtest cannot download here, so the Makefile builds
// both binaries from the k8s.io/kubernetes module at this version.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
