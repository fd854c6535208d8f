//go:build tools

// Package tools pins the Kubernetes control-plane commands that hack/build.py
// compiles into bin/; the replace block in go.mod maps every staging module to
// its published version, as k8s.io/kubernetes itself cannot be required bare.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
