package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"gfs/appliance"
)

func run(args []string) int {
	if len(args) >= 1 && args[0] == "trial" {
		h := appliance.New(appliance.Options{Verbose: os.Getenv("V") != ""})
		for _, a := range args[1:] {
			if err := h.AddDrive(appliance.Drive{Path: a}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		t := time.Now()
		if err := h.Launch(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("launched (%s) in %v\n", h.Accel(), time.Since(t))
		res, err := h.Call(context.Background(), "list-devices", nil, nil, nil, nil)
		fmt.Println(string(res), err)
		if os.Getenv("BENCH") != "" {
			ctx := context.Background()
			step := func(name string, args ...any) {
				t := time.Now()
				r, err := h.Call(ctx, name, args, nil, nil, nil)
				fmt.Printf("%s %v: %s %v (%v)\n", name, args, r, err, time.Since(t))
			}
			step("mkfs", "ext4", "/dev/sda")
			step("mount", "/dev/sda", "/")
			step("list-filesystems")
			f, _ := os.Open(os.Getenv("BENCH"))
			t := time.Now()
			_, err := h.Call(ctx, "upload", []any{"/big"}, nil, f, nil)
			d := time.Since(t)
			fi, _ := f.Stat()
			fmt.Printf("upload %v: %.1f MiB/s\n", err, float64(fi.Size())/d.Seconds()/(1<<20))
			out, _ := os.Create("/tmp/big.out")
			t = time.Now()
			_, err = h.Call(ctx, "download", []any{"/big"}, nil, nil, out)
			d = time.Since(t)
			out.Close()
			fmt.Printf("download %v: %.1f MiB/s\n", err, float64(fi.Size())/d.Seconds()/(1<<20))
		}
		t = time.Now()
		err = h.Close()
		fmt.Println("close", err, time.Since(t))
		return 0
	}
	fmt.Fprintln(os.Stderr, "gfs: not yet")
	return 1
}
