// Package proto is the wire format between gfs and its appliance agent.
//
// The channel is one virtio-serial port: a byte stream with no message
// boundaries, so every message is a frame with a fixed 16-byte header
// followed by its payload. Calls carry request ids so that several can be
// in flight (FUSE issues concurrent requests) and bulk data travels as Data
// frames tagged with the id of the call it belongs to, never as one big
// payload: a 4 GiB download costs a few chunks of memory, not 4 GiB.
package proto

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"syscall"
)

// Version is bumped whenever a frame or message changes incompatibly.
// The agent announces it in Hello; the host refuses an agent that differs.
const Version = 1

// Kind says what a frame carries.
type Kind uint8

const (
	KindHello  Kind = iota + 1 // agent → host, once, when it is ready (payload Hello)
	KindCall                   // host → agent (payload Call)
	KindReply                  // agent → host, ends a call (payload: JSON result)
	KindError                  // agent → host, ends a call (payload Error)
	KindData                   // either way: a chunk of a call's byte stream
	KindEOF                    // either way: the call's byte stream ends (payload empty or an Error)
	KindCancel                 // host → agent: stop the call
	KindPing                   // agent → host: heartbeat, proves the agent is alive
)

func (k Kind) String() string {
	names := [...]string{"?", "hello", "call", "reply", "error", "data", "eof", "cancel", "ping"}
	if int(k) < len(names) {
		return names[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

const (
	headerSize = 16
	magic      = 0x67 // 'g': catches a desynchronised stream at once
	// MaxPayload bounds a frame so a corrupt length can never make a
	// reader allocate gigabytes.
	MaxPayload = 4 << 20
	// ChunkSize is the size of Data frames senders should use.
	ChunkSize = 256 << 10
)

// Frame is one message on the channel.
type Frame struct {
	Kind    Kind
	ID      uint64
	Payload []byte
}

// Hello is the agent's greeting.
type Hello struct {
	Version int      `json:"version"`
	Agent   string   `json:"agent"`   // build identity of the agent binary
	Kernel  string   `json:"kernel"`  // uname -r inside the appliance
	Missing []string `json:"missing"` // tools absent from the appliance
}

// Call asks the agent to run one command.
type Call struct {
	Name string            `json:"name"`
	Args []json.RawMessage `json:"args"`
	Opts map[string]any    `json:"opts,omitempty"`
	// Stream says the host will send a byte stream (Data … EOF) after the call.
	Stream bool `json:"stream,omitempty"`
}

// Error is a failed call: an errno-like code and a message that already
// names what failed ("mount /dev/sda1: wrong fs type").
type Error struct {
	Errno   int    `json:"errno"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Unwrap lets errors.Is(err, fs.ErrNotExist) and friends work on agent errors.
func (e *Error) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return syscall.Errno(e.Errno)
}

// NewError converts any error to a wire error, keeping the errno if one is
// found anywhere in its chain.
func NewError(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	e := &Error{Message: err.Error(), Errno: int(syscall.EIO)}
	var en syscall.Errno
	if errors.As(err, &en) {
		e.Errno = int(en)
	}
	return e
}

// Write sends one frame. Callers serialise writers themselves.
func Write(w io.Writer, f Frame) error {
	if len(f.Payload) > MaxPayload {
		return fmt.Errorf("frame payload of %d bytes exceeds %d", len(f.Payload), MaxPayload)
	}
	var h [headerSize]byte
	h[0] = magic
	h[1] = byte(f.Kind)
	binary.LittleEndian.PutUint32(h[4:], uint32(len(f.Payload)))
	binary.LittleEndian.PutUint64(h[8:], f.ID)
	if len(f.Payload) == 0 {
		_, err := w.Write(h[:])
		return err
	}
	// Small frames go out in one write: the virtio-serial port turns
	// every write into a buffer exchange. Large ones are written as header
	// then payload, which saves copying the payload (costly under
	// emulation) for one extra small write.
	if len(f.Payload) > 4096 {
		if _, err := w.Write(h[:]); err != nil {
			return err
		}
		_, err := w.Write(f.Payload)
		return err
	}
	buf := make([]byte, headerSize+len(f.Payload))
	copy(buf, h[:])
	copy(buf[headerSize:], f.Payload)
	_, err := w.Write(buf)
	return err
}

// Read receives one frame. buf may be reused for the payload when large
// enough; the returned Payload aliases it.
func Read(r io.Reader, buf []byte) (Frame, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Frame{}, err
	}
	if h[0] != magic {
		return Frame{}, fmt.Errorf("protocol: bad frame magic %#x (stream out of sync)", h[0])
	}
	n := binary.LittleEndian.Uint32(h[4:])
	if n > MaxPayload {
		return Frame{}, fmt.Errorf("protocol: frame of %d bytes exceeds %d", n, MaxPayload)
	}
	f := Frame{Kind: Kind(h[1]), ID: binary.LittleEndian.Uint64(h[8:])}
	if n > 0 {
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		f.Payload = buf[:n]
		if _, err := io.ReadFull(r, f.Payload); err != nil {
			return Frame{}, fmt.Errorf("protocol: short frame: %w", err)
		}
	}
	return f, nil
}

// JSON marshals v into a frame payload.
func JSON(kind Kind, id uint64, v any) (Frame, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Frame{}, err
	}
	return Frame{Kind: kind, ID: id, Payload: b}, nil
}

// Strerror is the C library's message for an errno ("No such file or
// directory"), which is what guestfish users and scripts expect; Go's
// own strings are the same text in lower case.
func Strerror(errno syscall.Errno) string {
	s := errno.Error()
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
