// Command gfsdocs prints docs/commands.md, the command reference
// generated from the command table (make docs; make check-docs in CI).
package main

import (
	"fmt"

	"gfs/shell"
)

func main() { fmt.Print(shell.Markdown()) }
