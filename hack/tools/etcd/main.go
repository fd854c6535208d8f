// Command etcd is a thin wrapper around etcd's own entry point: the server
// module's go.mod carries relative replace lines, so `go install` of it fails
// and a wrapper module that requires every etcd module at one version is the
// way to build it from the module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
