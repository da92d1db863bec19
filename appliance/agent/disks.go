package agent

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// loadDisks brings up the SCSI disks so that the kernel names them in
// the order the host attached them (sda = first drive). The sd driver
// probes disks asynchronously, so with plain module loading two disks
// can swap names. Instead: turn off automatic probing on the SCSI bus,
// let virtio_scsi find every device, then bind each to sd one at a time,
// in target order. A bind runs the probe synchronously, and the probe
// picks the name.
func loadDisks(kmods *modules) error {
	if err := kmods.load("virtio_pci", "scsi_mod"); err != nil {
		return err
	}
	if err := os.WriteFile("/sys/bus/scsi/drivers_autoprobe", []byte("0"), 0); err != nil {
		return fmt.Errorf("scsi autoprobe: %w", err)
	}
	if err := kmods.load("virtio_scsi", "sd_mod"); err != nil {
		return err
	}
	devs, err := scsiDisks()
	if err != nil {
		return err
	}
	for _, d := range devs {
		if err := os.WriteFile("/sys/bus/scsi/drivers/sd/bind", []byte(d), 0); err != nil {
			return fmt.Errorf("bind %s to sd: %w", d, err)
		}
	}
	os.WriteFile("/sys/bus/scsi/drivers_autoprobe", []byte("1"), 0)
	// The disk itself may be added to the block layer a moment later.
	deadline := time.Now().Add(30 * time.Second)
	for len(listDevices()) < len(devs) {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d disks appeared", len(listDevices()), len(devs))
		}
		time.Sleep(2 * time.Millisecond)
	}
	for _, dev := range listDevices() {
		ensureNode(strings.TrimPrefix(dev, "/dev/"))
	}
	return nil
}

// scsiDisks lists SCSI devices of type disk as "H:C:T:L", sorted
// numerically by host, channel, target and LUN.
func scsiDisks() ([]string, error) {
	entries, err := os.ReadDir("/sys/bus/scsi/devices")
	if err != nil {
		return nil, err
	}
	type addr struct {
		name string
		n    [4]int
	}
	var out []addr
	for _, e := range entries {
		parts := strings.Split(e.Name(), ":")
		if len(parts) != 4 {
			continue // hosts and targets, not devices
		}
		typ, err := os.ReadFile("/sys/bus/scsi/devices/" + e.Name() + "/type")
		if err != nil || strings.TrimSpace(string(typ)) != "0" {
			continue
		}
		a := addr{name: e.Name()}
		for i, p := range parts {
			a.n[i], _ = strconv.Atoi(p)
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		for k := 0; k < 4; k++ {
			if out[i].n[k] != out[j].n[k] {
				return out[i].n[k] < out[j].n[k]
			}
		}
		return false
	})
	names := make([]string, len(out))
	for i, a := range out {
		names[i] = a.name
	}
	return names, nil
}
