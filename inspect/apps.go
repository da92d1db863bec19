package inspect

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// listApplications mounts the OS's filesystems (as virt-inspector does
// before listing) and reads its package database.
func listApplications(ctx context.Context, src Source, c classified, opts *Options) ([]Application, error) {
	mounts := mountsForRoot(c.d, c.fs.Device)
	t, err := src.Mount(ctx, mounts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.fs.Device, err)
	}
	defer t.Close()
	for mp, err := range t.Failed() {
		opts.logf("inspect: %s: cannot mount %s: %v", c.fs.Device, mp, err)
	}
	v := &fsView{ctx: ctx, t: t}
	apps := applications(v, c.d, opts)
	if v.err != nil {
		return nil, fmt.Errorf("%s: applications: %w", c.fs.Device, v.err)
	}
	if apps == nil {
		apps = []Application{}
	}
	sort.SliceStable(apps, func(i, j int) bool { return apps[i].Name < apps[j].Name })
	return apps, nil
}

func applications(v *fsView, d *data, opts *Options) []Application {
	switch d.osType {
	case "linux", "hurd":
		switch d.packageFormat {
		case "rpm":
			apps, err := rpmApplications(v)
			if err != nil {
				opts.logf("inspect: rpm database: %v", err)
			}
			return apps
		case "deb":
			if b, ok := v.read("/var/lib/dpkg/status", pkgDBLimit); ok {
				return parseDpkgStatus(b)
			}
		case "pacman":
			return pacmanApplications(v)
		case "apk":
			if b, ok := v.read("/lib/apk/db/installed", pkgDBLimit); ok {
				return parseApkInstalled(b)
			}
		}
	case "windows":
		apps, err := windowsApplications(v, d)
		if err != nil {
			opts.logf("inspect: windows applications: %v", err)
		}
		return apps
	}
	return nil
}

// splitEVR splits [epoch:]version[-release]; ok is false for a bad epoch.
func splitEVR(s string, skipR bool) (epoch int, version, release string, ok bool) {
	if e, rest, found := strings.Cut(s, ":"); found {
		n, err := strconv.ParseUint(e, 10, 31)
		if err != nil {
			return 0, "", "", false
		}
		epoch, s = int(n), rest
	}
	version, release, _ = strings.Cut(s, "-")
	if skipR {
		release = strings.TrimPrefix(release, "r")
	}
	return epoch, version, release, true
}

// parseDpkgStatus lists the installed packages of /var/lib/dpkg/status.
func parseDpkgStatus(b []byte) []Application {
	var apps []Application
	var cur Application
	installed, epochOK, hasVersion := false, true, false
	var inDesc bool
	flush := func() {
		if installed && cur.Name != "" && hasVersion && epochOK && len(apps) < maxApps {
			apps = append(apps, cur)
		}
		cur, installed, epochOK, hasVersion, inDesc = Application{}, false, true, false, false
	}
	for _, line := range lines(b) {
		if len(line) > 0 && line[0] == ' ' && inDesc {
			if cur.Description == "" {
				cur.Description = line[1:]
			} else if len(cur.Description) < 64<<10 {
				cur.Description += "\n" + line[1:]
			}
			continue
		}
		inDesc = false
		switch {
		case strings.HasPrefix(line, "Package: "):
			cur.Name = line[9:]
		case strings.HasPrefix(line, "Status: "):
			f := strings.Fields(line[8:])
			installed = len(f) == 3 && f[2] == "installed"
		case strings.HasPrefix(line, "Version: "):
			cur.Epoch, cur.Version, cur.Release, epochOK = splitEVR(line[9:], false)
			hasVersion = true
		case strings.HasPrefix(line, "Architecture: "):
			cur.Arch = line[14:]
		case strings.HasPrefix(line, "Homepage: "):
			cur.URL = line[10:]
		case strings.HasPrefix(line, "Source: "):
			cur.SourcePackage, _, _ = strings.Cut(line[8:], " ")
		case strings.HasPrefix(line, "Description: "):
			cur.Summary = line[13:]
			inDesc = true
		case line == "":
			flush()
		}
	}
	flush()
	return apps
}

// parseApkInstalled lists Alpine's /lib/apk/db/installed.
func parseApkInstalled(b []byte) []Application {
	var apps []Application
	var cur Application
	epochOK, hasVersion := true, false
	flush := func() {
		if cur.Name != "" && hasVersion && epochOK && len(apps) < maxApps {
			apps = append(apps, cur)
		}
		cur, epochOK, hasVersion = Application{}, true, false
	}
	for _, line := range lines(b) {
		if line == "" {
			flush()
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			continue
		}
		val := line[2:]
		switch line[0] {
		case 'A':
			cur.Arch = val
		case 'P':
			cur.Name = val
		case 'T':
			cur.Description = val
		case 'U':
			cur.URL = val
		case 'V':
			cur.Epoch, cur.Version, cur.Release, epochOK = splitEVR(val, true)
			hasVersion = true
		}
	}
	flush()
	return apps
}

// pacmanApplications reads /var/lib/pacman/local/*/desc.
func pacmanApplications(v *fsView) []Application {
	ents, ok := v.readDir("/var/lib/pacman/local")
	if !ok {
		return nil
	}
	var apps []Application
	for _, e := range ents {
		if len(apps) >= maxApps || v.err != nil {
			break
		}
		p := path.Join("/var/lib/pacman/local", e.Name)
		if e.Type == 0 {
			if !v.isDir(p) {
				continue
			}
		} else if e.Type != 0o040000 {
			continue
		}
		b, ok := v.read(p+"/desc", pacmanDescMax)
		if !ok {
			continue
		}
		if a, ok := parsePacmanDesc(b); ok {
			apps = append(apps, a)
		}
	}
	return apps
}

func parsePacmanDesc(b []byte) (Application, bool) {
	var name, version, desc, arch, url string
	var key *string
	for _, line := range lines(b) {
		if line == "" {
			key = nil
			continue
		}
		if key != nil {
			*key = line
			key = nil
			continue
		}
		switch line {
		case "%NAME%":
			key = &name
		case "%VERSION%":
			key = &version
		case "%DESC%":
			key = &desc
		case "%URL%":
			key = &url
		case "%ARCH%":
			key = &arch
		}
	}
	if name == "" || version == "" || arch == "" {
		return Application{}, false
	}
	epoch, ver, rel, ok := splitEVR(version, false)
	if !ok || ver == "" || rel == "" {
		return Application{}, false
	}
	return Application{Name: name, Epoch: epoch, Version: ver, Release: rel, Arch: arch, URL: url, Description: desc}, true
}
