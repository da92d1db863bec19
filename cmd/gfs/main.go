// Command gfs edits virtual machine disk images offline: a guestfish-
// compatible shell and virt-* style tools on top of a small appliance VM.
package main

import (
	"os"

	"gfs/appliance"
	"gfs/appliance/agent"
)

func main() {
	// The gfs binary is also the appliance's /init.
	if os.Getpid() == 1 {
		agent.Main()
		return
	}
	appliance.ExecutableIsAgent = true
	os.Exit(run(os.Args[1:]))
}
