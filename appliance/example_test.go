package appliance_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"gfs/appliance"
)

// Example is the README's library snippet, run for real: a new qcow2
// disk, a GPT partition with ext4 on it, a file written and read back.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "gfs-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	disk := filepath.Join(dir, "disk.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", disk, "64M").CombinedOutput(); err != nil {
		fmt.Printf("qemu-img: %v: %s", err, out)
		return
	}

	h := appliance.New(appliance.Options{})
	if err := h.AddDrive(appliance.Drive{Path: disk}); err != nil {
		fmt.Println(err)
		return
	}
	if err := h.Launch(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close() // syncs, shuts down, cleans up
	for _, step := range []func() error{
		func() error { return h.PartDisk(ctx, "/dev/sda", "gpt") },
		func() error { return h.Mkfs(ctx, "ext4", "/dev/sda1", nil) },
		func() error { return h.Mount(ctx, "/dev/sda1", "/") },
		func() error { return h.Write(ctx, "/hello", []byte("hi\n")) },
	} {
		if err := step(); err != nil {
			fmt.Println(err)
			return
		}
	}
	s, err := h.Cat(ctx, "/hello")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(s)
	// Output: hi
}
