package shell

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"gfs/appliance/api"
)

// printResult prints a command's JSON result the way guestfish prints
// that return kind:
//
//	RBool        true / false
//	RInt, RInt64 decimal (octal with a leading 0, or hex with 0x, for
//	             the commands whose table row says so)
//	RString      the string and a newline
//	RStringList  one item per line
//	RHashtable   "key: value" lines
//	RStruct      "field: value" lines, fields named by their json tags
//	RStructList  "[N] = {", "  field: value" lines, "}" per element
//	RBufferOut   the bytes exactly
func printResult(w io.Writer, cmd *api.Command, res json.RawMessage) error {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	switch cmd.Ret {
	case api.RErr:
		return nil
	case api.RBool:
		var b bool
		if err := json.Unmarshal(res, &b); err != nil {
			return decodeErr(cmd, err)
		}
		fmt.Fprintln(bw, b)
	case api.RInt, api.RInt64:
		var n int64
		if err := json.Unmarshal(res, &n); err != nil {
			return decodeErr(cmd, err)
		}
		fmt.Fprintln(bw, formatInt(cmd, n))
	case api.RString:
		var s string
		if err := json.Unmarshal(res, &s); err != nil {
			return decodeErr(cmd, err)
		}
		fmt.Fprintln(bw, s)
	case api.RBufferOut:
		var s string
		if err := json.Unmarshal(res, &s); err != nil {
			return decodeErr(cmd, err)
		}
		io.WriteString(bw, s)
	case api.RStringList:
		var l []string
		if err := json.Unmarshal(res, &l); err != nil {
			return decodeErr(cmd, err)
		}
		for _, s := range l {
			fmt.Fprintln(bw, s)
		}
	case api.RHashtable:
		var l []string
		if err := json.Unmarshal(res, &l); err != nil {
			return decodeErr(cmd, err)
		}
		printTable(bw, l)
	case api.RStruct:
		v := reflect.New(cmd.Struct)
		if err := json.Unmarshal(res, v.Interface()); err != nil {
			return decodeErr(cmd, err)
		}
		printStruct(bw, v.Elem(), "")
	case api.RStructList:
		v := reflect.New(reflect.SliceOf(cmd.Struct))
		if err := json.Unmarshal(res, v.Interface()); err != nil {
			return decodeErr(cmd, err)
		}
		printStructList(bw, v.Elem())
	}
	return nil
}

func decodeErr(cmd *api.Command, err error) error {
	return fmt.Errorf("%s: cannot decode the result: %v", cmd.Name, err)
}

// formatInt prints an RInt in the command's base: octal results (umask)
// get a leading 0 and hex ones (MBR ids) a leading 0x, unless zero.
func formatInt(cmd *api.Command, n int64) string {
	switch cmd.IntFormat {
	case api.IntOctal:
		if n == 0 {
			return "0"
		}
		return "0" + strconv.FormatInt(n, 8)
	case api.IntHex:
		if n == 0 {
			return "0"
		}
		return "0x" + strconv.FormatInt(n, 16)
	}
	return strconv.FormatInt(n, 10)
}

// printTable prints a flattened hashtable k, v, k, v… as "k: v" lines.
func printTable(w io.Writer, flat []string) {
	for i := 0; i+1 < len(flat); i += 2 {
		fmt.Fprintf(w, "%s: %s\n", flat[i], flat[i+1])
	}
}

// printStruct prints each field as "indent name: value"; embedded
// structs are flattened, as their fields are the struct's own in
// libguestfs.
func printStruct(w io.Writer, v reflect.Value, indent string) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			printStruct(w, v.Field(i), indent)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		fmt.Fprintf(w, "%s%s: %s\n", indent, name, fieldString(v.Field(i)))
	}
}

func fieldString(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		// libguestfs's optional percentages: negative means unset.
		f := v.Float()
		if f < 0 {
			return ""
		}
		return strconv.FormatFloat(f, 'g', -1, 64) + " %"
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	}
	return fmt.Sprint(v.Interface())
}

func printStructList(w io.Writer, v reflect.Value) {
	for i := 0; i < v.Len(); i++ {
		fmt.Fprintf(w, "[%d] = {\n", i)
		printStruct(w, v.Index(i), "  ")
		fmt.Fprintln(w, "}")
	}
}
