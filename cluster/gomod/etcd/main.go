// Command etcd is the etcd server, built from the published etcd server module
// at the version pinned in go.mod. The embedded cluster runs it as a host process.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
