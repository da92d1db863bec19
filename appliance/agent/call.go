package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"syscall"

	"gfs/appliance/proto"
)

// call is one request being served. Handlers read their arguments with
// the typed accessors; a malformed argument panics with an EINVAL error,
// which dispatch turns into the call's error.
type call struct {
	ctx    context.Context
	cancel context.CancelFunc
	id     uint64
	name   string
	args   []json.RawMessage
	opts   map[string]any
	s      *server
	in     *inStream
	out    *outStream
}

type handler func(c *call) (any, error)

var handlers = map[string]handler{}

// handle registers a handler; each file registers its calls in init.
func handle(name string, h handler) {
	if _, dup := handlers[name]; dup {
		panic("agent: duplicate handler " + name)
	}
	handlers[name] = h
}

// Handlers lists the registered call names, for the consistency test
// against the command table.
func Handlers() []string {
	names := make([]string, 0, len(handlers))
	for n := range handlers {
		names = append(names, n)
	}
	return names
}

type argError struct{ err error }

func (c *call) arg(i int, v any) {
	if i >= len(c.args) {
		panic(argError{fmt.Errorf("%s: missing argument %d", c.name, i+1)})
	}
	if err := json.Unmarshal(c.args[i], v); err != nil {
		panic(argError{fmt.Errorf("%s: argument %d: %v", c.name, i+1, err)})
	}
}

func (c *call) str(i int) string    { var s string; c.arg(i, &s); return s }
func (c *call) int64(i int) int64   { var n int64; c.arg(i, &n); return n }
func (c *call) int(i int) int       { return int(c.int64(i)) }
func (c *call) bool(i int) bool     { var b bool; c.arg(i, &b); return b }
func (c *call) strs(i int) []string { var s []string; c.arg(i, &s); return s }
func (c *call) nargs() int          { return len(c.args) }

// optStr returns an optional argument, or def when the caller omitted it.
func (c *call) optStr(name, def string) string {
	if v, ok := c.opts[name]; ok {
		if s, ok := v.(string); ok {
			return s
		}
		return fmt.Sprint(v)
	}
	return def
}

func (c *call) optInt(name string, def int64) int64 {
	if v, ok := c.opts[name]; ok {
		switch n := v.(type) {
		case float64:
			return int64(n)
		case json.Number:
			i, _ := n.Int64()
			return i
		}
	}
	return def
}

func (c *call) optBool(name string, def bool) bool {
	if v, ok := c.opts[name]; ok {
		if b, ok := v.(bool); ok {
			return b
		}
	}
	return def
}

func (c *call) hasOpt(name string) bool { _, ok := c.opts[name]; return ok }

// input is the byte stream the host sends with this call (inStream).
func (c *call) input() io.Reader {
	if c.in == nil {
		panic(argError{fmt.Errorf("%s: no input stream", c.name)})
	}
	return c.in
}

// output is the byte stream sent back to the host (outStream).
func (c *call) output() *outStream {
	if c.out == nil {
		c.out = newOutStream(c)
	}
	return c.out
}

// errnoErr builds an error with an errno, the way the C daemon's
// reply_with_perror does: "op path: strerror".
func errnoErr(errno syscall.Errno, format string, args ...any) error {
	return &proto.Error{Errno: int(errno), Message: fmt.Sprintf(format, args...) + ": " + proto.Strerror(errno)}
}
