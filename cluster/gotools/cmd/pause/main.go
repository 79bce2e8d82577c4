// Command pause is the pod sandbox process of the embedded cluster.
//
// It holds the pod's namespaces open, reaps any zombie handed to it as PID 1, and exits
// cleanly on SIGINT or SIGTERM so the runtime can stop a sandbox without a kill timeout.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func reapChildren() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		// The image tag (embedded_cluster.containerd.PAUSE_IMAGE) is the version, not restated here.
		fmt.Println("airs-pause")
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "pause: warning: not running as PID 1")
	}
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reapChildren()
			continue
		}
		os.Exit(0)
	}
}
