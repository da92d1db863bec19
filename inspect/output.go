package inspect

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// WriteXML writes the operating systems as virt-inspector does: the
// same elements in the same order, indented by two spaces, unknown
// values and empty elements left out.
func WriteXML(w io.Writer, oses []OS, withApps bool) error {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\n<operatingsystems>\n")
	for _, o := range oses {
		writeOSXML(&b, o, withApps)
	}
	b.WriteString("</operatingsystems>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeOSXML(b *strings.Builder, o OS, withApps bool) {
	const i2, i3, i4, i5 = "    ", "      ", "        ", "          "
	el := func(ind, name, val string) {
		fmt.Fprintf(b, "%s<%s>%s</%s>\n", ind, name, xmlText(val), name)
	}
	known := func(ind, name, val string) {
		if val != "" && val != "unknown" {
			el(ind, name, val)
		}
	}
	b.WriteString("  <operatingsystem>\n")
	el(i2, "root", o.Root)
	known(i2, "name", o.Type)
	known(i2, "arch", o.Arch)
	known(i2, "distro", o.Distro)
	known(i2, "product_name", o.ProductName)
	known(i2, "product_variant", o.ProductVariant)
	el(i2, "major_version", fmt.Sprint(o.MajorVersion))
	el(i2, "minor_version", fmt.Sprint(o.MinorVersion))
	known(i2, "package_format", o.PackageFormat)
	known(i2, "package_management", o.PackageManagement)
	if o.WindowsSystemroot != "" {
		el(i2, "windows_systemroot", o.WindowsSystemroot)
	}
	if o.WindowsCurrentControlSet != "" {
		el(i2, "windows_current_control_set", o.WindowsCurrentControlSet)
	}
	known(i2, "hostname", o.Hostname)
	known(i2, "osinfo", o.OSInfo)
	b.WriteString(i2 + "<mountpoints>\n")
	for _, m := range o.Mountpoints {
		fmt.Fprintf(b, "%s<mountpoint dev=\"%s\">%s</mountpoint>\n", i3, xmlAttr(m.Device), xmlText(m.Mountpoint))
	}
	b.WriteString(i2 + "</mountpoints>\n")
	b.WriteString(i2 + "<filesystems>\n")
	for _, f := range o.Filesystems {
		if f.Type == "" && f.Label == "" && f.UUID == "" {
			fmt.Fprintf(b, "%s<filesystem dev=\"%s\"/>\n", i3, xmlAttr(f.Device))
			continue
		}
		fmt.Fprintf(b, "%s<filesystem dev=\"%s\">\n", i3, xmlAttr(f.Device))
		for _, kv := range [][2]string{{"type", f.Type}, {"label", f.Label}, {"uuid", f.UUID}} {
			if kv[1] != "" {
				el(i4, kv[0], kv[1])
			}
		}
		b.WriteString(i3 + "</filesystem>\n")
	}
	b.WriteString(i2 + "</filesystems>\n")
	if len(o.DriveMappings) > 0 {
		b.WriteString(i2 + "<drive_mappings>\n")
		for _, m := range o.DriveMappings {
			fmt.Fprintf(b, "%s<drive_mapping name=\"%s\">%s</drive_mapping>\n", i3, xmlAttr(m.Name), xmlText(m.Device))
		}
		b.WriteString(i2 + "</drive_mappings>\n")
	}
	if withApps {
		if len(o.Applications) == 0 {
			b.WriteString(i2 + "<applications/>\n")
		} else {
			b.WriteString(i2 + "<applications>\n")
			for _, a := range o.Applications {
				b.WriteString(i3 + "<application>\n")
				el(i4, "name", a.Name)
				opt := func(name, val string) {
					if val != "" {
						el(i4, name, val)
					}
				}
				opt("display_name", a.DisplayName)
				if a.Epoch != 0 {
					el(i4, "epoch", fmt.Sprint(a.Epoch))
				}
				opt("version", a.Version)
				opt("release", a.Release)
				opt("arch", a.Arch)
				opt("install_path", a.InstallPath)
				opt("publisher", a.Publisher)
				opt("url", a.URL)
				opt("source_package", a.SourcePackage)
				opt("summary", a.Summary)
				opt("description", a.Description)
				b.WriteString(i3 + "</application>\n")
			}
			b.WriteString(i2 + "</applications>\n")
		}
	}
	_ = i5
	b.WriteString("  </operatingsystem>\n")
}

// xmlClean makes guest strings valid XML character data: invalid UTF-8
// becomes U+FFFD, control characters XML forbids are dropped.
func xmlClean(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, badXMLRune) {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if !badXMLRune(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func badXMLRune(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0xFFFE || r == 0xFFFF
}

// xmlText escapes text content as libxml2's writer does.
func xmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r", "&#13;").Replace(xmlClean(s))
}

// xmlAttr escapes an attribute value as libxml2's writer does.
func xmlAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\"", "&quot;",
		"\n", "&#10;", "\r", "&#13;", "\t", "&#9;").Replace(xmlClean(s))
}

// WriteJSON writes the same data as a JSON document
// {"operatingsystems": [...]}, for scripts.
func WriteJSON(w io.Writer, oses []OS) error {
	if oses == nil {
		oses = []OS{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		OperatingSystems []OS `json:"operatingsystems"`
	}{oses})
}
