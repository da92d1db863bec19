package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"gfs/appliance/api"
	"gfs/appliance/proto"
)

func init() {
	handle("pvs", func(c *call) (any, error) { return lvmNames(c, "pvs", "pv_name") })
	handle("vgs", func(c *call) (any, error) { return lvmNames(c, "vgs", "vg_name") })
	handle("lvs", func(c *call) (any, error) { return listLVs(c) })
	handle("pvs-full", func(c *call) (any, error) { return pvsFull(c) })
	handle("vgs-full", func(c *call) (any, error) { return vgsFull(c) })
	handle("lvs-full", func(c *call) (any, error) { return lvsFull(c) })
	handle("pvcreate", func(c *call) (any, error) {
		return nil, lvmWrite(c, []string{c.str(0)}, "pvcreate", "-ff", "-y", c.str(0))
	})
	handle("pvremove", func(c *call) (any, error) {
		return nil, lvmWrite(c, []string{c.str(0)}, "pvremove", "-ff", "-y", c.str(0))
	})
	handle("pvresize", func(c *call) (any, error) { return nil, lvmWrite(c, []string{c.str(0)}, "pvresize", c.str(0)) })
	handle("pvresize-size", func(c *call) (any, error) {
		return nil, lvmWrite(c, []string{c.str(0)}, "pvresize", "--setphysicalvolumesize", fmt.Sprintf("%db", c.int64(1)), "-y", c.str(0))
	})
	handle("vgcreate", func(c *call) (any, error) {
		return nil, lvmWrite(c, c.strs(1), append([]string{"vgcreate", "-y", c.str(0)}, c.strs(1)...)...)
	})
	handle("vgremove", func(c *call) (any, error) { return nil, lvmWrite(c, nil, "vgremove", "-f", "-y", c.str(0)) })
	handle("vgrename", func(c *call) (any, error) { return nil, lvmWrite(c, nil, "vgrename", c.str(0), c.str(1)) })
	handle("lvcreate", func(c *call) (any, error) {
		return nil, lvmWrite(c, nil, "lvcreate", "-y", "--zero", "n", "-L", fmt.Sprintf("%dm", c.int64(2)), "-n", c.str(0), c.str(1))
	})
	handle("lvcreate-free", func(c *call) (any, error) {
		return nil, lvmWrite(c, nil, "lvcreate", "-y", "--zero", "n", "-l", fmt.Sprintf("%d%%FREE", c.int(2)), "-n", c.str(0), c.str(1))
	})
	handle("lvremove", func(c *call) (any, error) { return nil, lvmWrite(c, nil, "lvremove", "-f", "-y", c.str(0)) })
	handle("lvrename", func(c *call) (any, error) { return nil, lvmWrite(c, nil, "lvrename", c.str(0), c.str(1)) })
	handle("lvresize", func(c *call) (any, error) {
		return nil, lvmWrite(c, nil, "lvresize", "-f", "-y", "-L", fmt.Sprintf("%dm", c.int64(1)), c.str(0))
	})
	handle("lvresize-free", func(c *call) (any, error) {
		return nil, lvmWrite(c, nil, "lvresize", "-y", "-l", fmt.Sprintf("+%d%%FREE", c.int(1)), c.str(0))
	})
	handle("vg-activate-all", func(c *call) (any, error) { return nil, vgActivate(c, c.bool(0), nil) })
	handle("vg-activate", func(c *call) (any, error) { return nil, vgActivate(c, c.bool(0), c.strs(1)) })
	handle("vgscan", func(c *call) (any, error) { _, err := lvm(c.ctx, "vgscan"); return nil, err })
	handle("lvm-remove-all", func(c *call) (any, error) { return nil, lvmRemoveAll(c) })
}

var (
	lvmMu        sync.Mutex
	lvmActivated bool
)

func lvm(ctx context.Context, args ...string) (string, error) {
	if err := loadDM(); err != nil {
		return "", err
	}
	return run(ctx, "lvm", args...)
}

func loadDM() error {
	return kmods.load("dm_mod", "dm_snapshot", "dm_mirror", "dm_zero")
}

// ensureLVM activates every volume group once per session, the first
// time something needs LVs, as libguestfs does at boot. It is lazy
// because lvm under emulation costs a noticeable part of a second and
// most sessions on LVM-less disks never need it.
func ensureLVM(ctx context.Context) {
	lvmMu.Lock()
	defer lvmMu.Unlock()
	if lvmActivated || !haveTool("lvm") {
		return
	}
	lvmActivated = true
	if !anyPVLabel() {
		return
	}
	lvm(ctx, "vgchange", "-a", "y")
}

// anyPVLabel looks for an LVM label on every disk and partition, which
// is far cheaper than running lvm when there are none.
func anyPVLabel() bool {
	devs := listDevices()
	devs = append(devs, listPartitions()...)
	buf := make([]byte, 2048)
	for _, d := range devs {
		f, err := os.Open(d)
		if err != nil {
			continue
		}
		n, _ := f.ReadAt(buf, 0)
		f.Close()
		for off := 0; off+512 <= n; off += 512 {
			if string(buf[off:off+8]) == "LABELONE" && string(buf[off+24:off+32]) == "LVM2 001" {
				return true
			}
		}
	}
	return false
}

// lvmWrite runs an LVM command that changes state, after checking that
// the devices it writes to are writable.
func lvmWrite(c *call, devs []string, args ...string) error {
	for _, d := range devs {
		if err := checkWritable(d); err != nil {
			return err
		}
	}
	ensureLVM(c.ctx)
	_, err := lvm(c.ctx, args...)
	return err
}

func vgActivate(c *call, on bool, vgs []string) error {
	flag := "n"
	if on {
		flag = "y"
	}
	_, err := lvm(c.ctx, append([]string{"vgchange", "-a", flag}, vgs...)...)
	lvmMu.Lock()
	lvmActivated = true
	lvmMu.Unlock()
	return err
}

func lvmRemoveAll(c *call) error {
	ensureLVM(c.ctx)
	lvs, err := listLVs(c)
	if err != nil {
		return err
	}
	for _, lv := range lvs {
		if _, err := lvm(c.ctx, "lvremove", "-f", "-y", lv); err != nil {
			return err
		}
	}
	vgs, _ := lvmNames(c, "vgs", "vg_name")
	for _, vg := range vgs {
		if _, err := lvm(c.ctx, "vgremove", "-f", "-y", vg); err != nil {
			return err
		}
	}
	pvs, _ := lvmNames(c, "pvs", "pv_name")
	for _, pv := range pvs {
		if _, err := lvm(c.ctx, "pvremove", "-ff", "-y", pv); err != nil {
			return err
		}
	}
	return nil
}

// lvmReport runs an lvm report command with JSON output and returns its
// rows as string maps.
func lvmReport(ctx context.Context, cmd, fields string, extra ...string) ([]map[string]string, error) {
	if !haveTool("lvm") {
		return nil, &proto.Error{Errno: int(syscall.ENOTSUP), Message: "lvm2 is not available in this appliance"}
	}
	ensureLVM(ctx)
	args := append([]string{cmd, "--reportformat", "json", "--units", "b", "--nosuffix", "-o", fields}, extra...)
	out, err := lvm(ctx, args...)
	if err != nil {
		return nil, err
	}
	var rep struct {
		Report []map[string][]map[string]string `json:"report"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		return nil, fmt.Errorf("%s: parse report: %w", cmd, err)
	}
	var rows []map[string]string
	for _, r := range rep.Report {
		for _, list := range r {
			rows = append(rows, list...)
		}
	}
	return rows, nil
}

func lvmNames(c *call, cmd, field string) ([]string, error) {
	rows, err := lvmReport(c.ctx, cmd, field)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, r := range rows {
		v := r[field]
		if field == "pv_name" {
			v = canonicalDevice(v)
		}
		out = append(out, v)
	}
	return out, nil
}

// listLVs returns /dev/VG/LV for the LVs users can mount: thin pools,
// mirror legs and other internal volumes are left out.
func listLVs(c *call) ([]string, error) {
	rows, err := lvmReport(c.ctx, "lvs", "vg_name,lv_name", "-S", "lv_role=public")
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, r := range rows {
		out = append(out, "/dev/"+r["vg_name"]+"/"+r["lv_name"])
	}
	return out, nil
}

func num(s string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n
}

func fnum(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return -1
	}
	return f
}

// lvmUUID prints LVM UUIDs as libguestfs does: 32 characters, no dashes.
func lvmUUID(s string) string { return strings.ReplaceAll(s, "-", "") }

func pvsFull(c *call) ([]api.PV, error) {
	rows, err := lvmReport(c.ctx, "pvs", "pv_name,pv_uuid,pv_fmt,pv_size,dev_size,pv_free,pv_used,pv_attr,pv_pe_count,pv_pe_alloc_count,pv_tags,pe_start,pv_mda_count,pv_mda_free")
	if err != nil {
		return nil, err
	}
	out := []api.PV{}
	for _, r := range rows {
		out = append(out, api.PV{
			Name: canonicalDevice(r["pv_name"]), UUID: lvmUUID(r["pv_uuid"]), Fmt: r["pv_fmt"],
			Size: num(r["pv_size"]), DevSize: num(r["dev_size"]), Free: num(r["pv_free"]), Used: num(r["pv_used"]),
			Attr: r["pv_attr"], PECount: num(r["pv_pe_count"]), PEAllocCount: num(r["pv_pe_alloc_count"]),
			Tags: r["pv_tags"], PEStart: num(r["pe_start"]), MDACount: num(r["pv_mda_count"]), MDAFree: num(r["pv_mda_free"]),
		})
	}
	return out, nil
}

func vgsFull(c *call) ([]api.VG, error) {
	rows, err := lvmReport(c.ctx, "vgs", "vg_name,vg_uuid,vg_fmt,vg_attr,vg_size,vg_free,vg_sysid,vg_extent_size,vg_extent_count,vg_free_count,max_lv,max_pv,pv_count,lv_count,snap_count,vg_seqno,vg_tags,vg_mda_count,vg_mda_free")
	if err != nil {
		return nil, err
	}
	out := []api.VG{}
	for _, r := range rows {
		out = append(out, api.VG{
			Name: r["vg_name"], UUID: lvmUUID(r["vg_uuid"]), Fmt: r["vg_fmt"], Attr: r["vg_attr"],
			Size: num(r["vg_size"]), Free: num(r["vg_free"]), Sysid: r["vg_sysid"], ExtentSize: num(r["vg_extent_size"]),
			ExtentCount: num(r["vg_extent_count"]), FreeCount: num(r["vg_free_count"]), MaxLV: num(r["max_lv"]),
			MaxPV: num(r["max_pv"]), PVCount: num(r["pv_count"]), LVCount: num(r["lv_count"]), SnapCount: num(r["snap_count"]),
			Seqno: num(r["vg_seqno"]), Tags: r["vg_tags"], MDACount: num(r["vg_mda_count"]), MDAFree: num(r["vg_mda_free"]),
		})
	}
	return out, nil
}

func lvsFull(c *call) ([]api.LV, error) {
	rows, err := lvmReport(c.ctx, "lvs", "lv_name,lv_uuid,lv_attr,lv_major,lv_minor,lv_kernel_major,lv_kernel_minor,lv_size,seg_count,origin,snap_percent,copy_percent,move_pv,lv_tags,mirror_log,modules", "-S", "lv_role=public")
	if err != nil {
		return nil, err
	}
	out := []api.LV{}
	for _, r := range rows {
		out = append(out, api.LV{
			Name: r["lv_name"], UUID: lvmUUID(r["lv_uuid"]), Attr: r["lv_attr"], Major: num(r["lv_major"]),
			Minor: num(r["lv_minor"]), KernelMajor: num(r["lv_kernel_major"]), KernelMinor: num(r["lv_kernel_minor"]),
			Size: num(r["lv_size"]), SegCount: num(r["seg_count"]), Origin: r["origin"],
			SnapPercent: fnum(r["snap_percent"]), CopyPercent: fnum(r["copy_percent"]), MovePV: r["move_pv"],
			Tags: r["lv_tags"], MirrorLog: r["mirror_log"], Modules: r["modules"],
		})
	}
	return out, nil
}

// reportUUID asks one LVM reporting command for one object's UUID; name
// is a device unless it is a volume group.
func reportUUID(c *call, report, field, name string) (string, error) {
	if report != "vgs" {
		if err := checkDevice(name); err != nil {
			return "", err
		}
	}
	out, err := lvm(c.ctx, report, "--noheadings", "-o", field, name)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

func init() {
	handle("pvuuid", func(c *call) (any, error) { return reportUUID(c, "pvs", "pv_uuid", c.str(0)) })
	handle("vguuid", func(c *call) (any, error) { return reportUUID(c, "vgs", "vg_uuid", c.str(0)) })
	handle("lvuuid", func(c *call) (any, error) { return reportUUID(c, "lvs", "lv_uuid", c.str(0)) })
}
