// Command gfsbench measures gfs against libguestfs on this machine and
// prints medians and ratios (make bench). Speed claims live here, never
// in timed tests.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

var (
	gfsBin = flag.String("gfs", "bin/gfs", "the gfs binary to measure")
	runs   = flag.Int("runs", 5, "repetitions per measurement (median reported)")
	sizeMB = flag.Int("size", 256, "file size in MiB for transfer benchmarks")
	only   = flag.String("only", "", "comma-separated benchmark names to run (default all)")
)

// result is one row of the report.
type result struct {
	name     string
	gfs, ref float64 // seconds (or MiB/s when rate is set)
	rate     bool
	refName  string
	note     string
}

func main() {
	flag.Parse()
	abs, err := filepath.Abs(*gfsBin)
	if err != nil {
		fatal(err)
	}
	*gfsBin = abs
	if _, err := os.Stat(*gfsBin); err != nil {
		fatal(fmt.Errorf("%s: build it first (make build)", *gfsBin))
	}
	work, err := os.MkdirTemp("", "gfsbench-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(work)
	haveRef := haveLibguestfs()
	if !haveRef {
		fmt.Println("libguestfs-tools is not installed: reporting gfs alone (apt-get install libguestfs-tools for ratios)")
	}
	var results []result
	for _, b := range benchmarks {
		if *only != "" && !contains(strings.Split(*only, ","), b.name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "running %s…\n", b.name)
		rs, err := b.run(work, haveRef)
		if err != nil {
			fatal(fmt.Errorf("%s: %w", b.name, err))
		}
		results = append(results, rs...)
	}
	report(results)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "gfsbench:", err)
	os.Exit(1)
}

func haveLibguestfs() bool {
	_, err := exec.LookPath("guestfish")
	return err == nil
}

// refEnv runs libguestfs the only way it works here: direct backend,
// forced TCG (its default crashes on the broken nested KVM).
func refEnv() []string {
	return append(os.Environ(), "LIBGUESTFS_BACKEND=direct", "LIBGUESTFS_BACKEND_SETTINGS=force_tcg")
}

// timeCmd runs a command and returns its wall time.
func timeCmd(env []string, name string, args ...string) (float64, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start).Seconds()
	if err != nil {
		return 0, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return d, nil
}

// median runs f n times and returns the median.
func median(n int, f func() (float64, error)) (float64, error) {
	var xs []float64
	for i := 0; i < n; i++ {
		x, err := f()
		if err != nil {
			return 0, err
		}
		xs = append(xs, x)
	}
	sort.Float64s(xs)
	return xs[len(xs)/2], nil
}

func report(rs []result) {
	fmt.Printf("\n%-34s %14s %14s %10s  %s\n", "benchmark", "gfs", "libguestfs", "ratio", "")
	for _, r := range rs {
		unit := "s"
		if r.rate {
			unit = "MiB/s"
		}
		ref, ratio := "-", "-"
		if r.ref > 0 {
			ref = fmt.Sprintf("%.2f %s", r.ref, unit)
			if r.rate {
				ratio = fmt.Sprintf("%.1fx", r.gfs/r.ref)
			} else {
				ratio = fmt.Sprintf("%.1fx", r.ref/r.gfs)
			}
		}
		fmt.Printf("%-34s %14s %14s %10s  %s\n", r.name, fmt.Sprintf("%.3f %s", r.gfs, unit), ref, ratio, r.note)
	}
	fmt.Println("\nratio > 1 means gfs is faster; medians of", *runs, "runs; TCG on this machine")
}
