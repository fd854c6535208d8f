//go:build tools

// Package tools pins the Karmada commands that hack/build_karmada.py compiles
// into bin/karmada/ on demand (the benchmark against Karmada needs them; `make
// tools` does not build them). Karmada's own go.mod has no replace lines, but
// `go install pkg@version` is refused for it, so this wrapper module requires
// it and `go build`s its commands, as hack/tools/etcd does for etcd.
package tools

import (
	_ "github.com/karmada-io/karmada/cmd/aggregated-apiserver"
	_ "github.com/karmada-io/karmada/cmd/controller-manager"
	_ "github.com/karmada-io/karmada/cmd/scheduler"
	_ "github.com/karmada-io/karmada/cmd/webhook"
)
