package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"gfs/appliance/proto"
)

// server multiplexes calls over the channel: one reader loop, one
// goroutine per call, and a lock around writes so frames never interleave.
type server struct {
	port *os.File
	wmu  sync.Mutex

	mu    sync.Mutex
	calls map[uint64]*call
	quit  chan struct{}
}

func newServer(port *os.File) *server {
	return &server{port: port, calls: map[uint64]*call{}, quit: make(chan struct{})}
}

func (s *server) send(f proto.Frame) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return proto.Write(s.port, f)
}

func (s *server) sendJSON(kind proto.Kind, id uint64, v any) error {
	f, err := proto.JSON(kind, id, v)
	if err != nil {
		return err
	}
	return s.send(f)
}

func (s *server) serve() error {
	uts := unameRelease()
	hello := proto.Hello{Version: proto.Version, Agent: agentID(), Kernel: uts, Missing: missingTools()}
	if err := s.sendJSON(proto.KindHello, 0, hello); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	debugf("hello sent")
	go s.heartbeat()

	for {
		// A fresh payload buffer per frame: data chunks are handed to
		// their call as they are, without a copy.
		f, err := proto.Read(s.port, nil)
		if err != nil {
			if errors.Is(err, io.EOF) {
				// The host closed its end; with virtio-serial this reads
				// as EOF until it reconnects. Wait rather than spin.
				select {
				case <-s.quit:
					return nil
				case <-time.After(50 * time.Millisecond):
					continue
				}
			}
			return err
		}
		switch f.Kind {
		case proto.KindCall:
			var req proto.Call
			if err := json.Unmarshal(f.Payload, &req); err != nil {
				s.sendJSON(proto.KindError, f.ID, &proto.Error{Errno: int(syscall.EPROTO), Message: "bad call: " + err.Error()})
				continue
			}
			s.start(f.ID, req)
		case proto.KindData, proto.KindEOF:
			s.mu.Lock()
			c := s.calls[f.ID]
			s.mu.Unlock()
			if c == nil || c.in == nil {
				continue // data for a call that already ended: drop it
			}
			if f.Kind == proto.KindEOF {
				c.in.close(nil)
				continue
			}
			c.in.push(f.Payload)
		case proto.KindCancel:
			s.mu.Lock()
			c := s.calls[f.ID]
			s.mu.Unlock()
			if c != nil {
				c.cancel()
			}
		}
		select {
		case <-s.quit:
			return nil
		default:
		}
	}
}

// heartbeat proves to the host that the agent is alive even while a long
// call (mkfs on a big disk) produces no other frames.
func (s *server) heartbeat() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.send(proto.Frame{Kind: proto.KindPing})
		case <-s.quit:
			return
		}
	}
}

func (s *server) start(id uint64, req proto.Call) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &call{ctx: ctx, cancel: cancel, id: id, name: req.Name, args: req.Args, opts: req.Opts, s: s}
	if req.Stream {
		c.in = newInStream(ctx)
	}
	s.mu.Lock()
	s.calls[id] = c
	s.mu.Unlock()
	go s.run(c)
}

func (s *server) run(c *call) {
	result, err := s.dispatch(c)
	if c.out != nil {
		if err == nil {
			err = c.out.flush()
		} else {
			c.out.abort()
		}
	}
	s.mu.Lock()
	delete(s.calls, c.id)
	s.mu.Unlock()
	c.cancel()
	if c.in != nil {
		c.in.close(errCallEnded)
		c.in.drain()
	}
	if err != nil {
		debugf("%s: %v", c.name, err)
		s.sendJSON(proto.KindError, c.id, proto.NewError(err))
		return
	}
	if err := s.sendJSON(proto.KindReply, c.id, result); err != nil {
		s.sendJSON(proto.KindError, c.id, proto.NewError(fmt.Errorf("%s: encode result: %w", c.name, err)))
	}
	if c.name == "shutdown" {
		// The reply is queued to the host; now power off. Nothing after
		// this point matters to the host, which waits for QEMU to exit.
		shutdown()
	}
}

// dispatch runs the handler and turns a panic into an error, so one bad
// call never takes the channel down with it.
func (s *server) dispatch(c *call) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			if ae, ok := r.(argError); ok {
				err = &proto.Error{Errno: int(syscall.EINVAL), Message: ae.err.Error()}
				return
			}
			logf("panic in %s: %v\n%s", c.name, r, debug.Stack())
			err = &proto.Error{Errno: int(syscall.EIO), Message: fmt.Sprintf("%s: internal error: %v", c.name, r)}
		}
	}()
	for _, r := range []struct {
		ready <-chan struct{}
		err   *error
		what  string
	}{{disksReady, &disksErr, "disk drivers"}, {toolsReady, &toolsErr, "appliance tools"}} {
		select {
		case <-r.ready:
			if *r.err != nil {
				return nil, &proto.Error{Errno: int(syscall.ENODEV), Message: r.what + ": " + (*r.err).Error()}
			}
		case <-c.ctx.Done():
			return nil, c.ctx.Err()
		}
	}
	h, ok := handlers[c.name]
	if !ok {
		return nil, &proto.Error{Errno: int(syscall.ENOSYS), Message: c.name + ": not supported by this appliance"}
	}
	return h(c)
}

var errCallEnded = errors.New("call ended")

// inStream is the host-to-agent byte stream of one call.
type inStream struct {
	ctx    context.Context
	chunks chan []byte
	mu     sync.Mutex
	err    error
	closed bool
	done   chan struct{}
	cur    []byte
}

func newInStream(ctx context.Context) *inStream {
	return &inStream{ctx: ctx, chunks: make(chan []byte, 16), done: make(chan struct{})}
}

func (u *inStream) push(b []byte) {
	select {
	case u.chunks <- b:
	case <-u.done:
	}
}

func (u *inStream) close(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return
	}
	u.closed = true
	u.err = err
	close(u.done)
}

// drain discards what the host still sends after the call has ended.
func (u *inStream) drain() {
	for {
		select {
		case <-u.chunks:
		default:
			return
		}
	}
}

// WriteTo hands whole chunks to w (io.Copy uses it), saving a copy
// and most write calls.
func (u *inStream) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(u.cur) == 0 {
			b, err := u.next()
			if err == io.EOF {
				return total, nil
			}
			if err != nil {
				return total, err
			}
			u.cur = b
		}
		n, err := w.Write(u.cur)
		total += int64(n)
		u.cur = u.cur[n:]
		if err != nil {
			return total, err
		}
	}
}

// next waits for the next chunk, or the end of the stream.
func (u *inStream) next() ([]byte, error) {
	select {
	case b := <-u.chunks:
		return b, nil
	case <-u.done:
		// Chunks queued before EOF still count.
		select {
		case b := <-u.chunks:
			return b, nil
		default:
		}
		u.mu.Lock()
		err := u.err
		u.mu.Unlock()
		if err == nil {
			err = io.EOF
		}
		return nil, err
	case <-u.ctx.Done():
		return nil, u.ctx.Err()
	}
}

func (u *inStream) Read(p []byte) (int, error) {
	for len(u.cur) == 0 {
		b, err := u.next()
		if err != nil {
			return 0, err
		}
		u.cur = b
	}
	n := copy(p, u.cur)
	u.cur = u.cur[n:]
	return n, nil
}

// outStream is the agent-to-host byte stream of one call, sent as
// chunks. Filling a chunk (reading a file) and sending the previous one
// overlap: a sender goroutine writes full chunks while the handler fills
// the next, so disk reads and channel writes proceed together.
type outStream struct {
	c    *call
	buf  []byte
	send chan []byte
	free chan []byte
	done chan struct{}
	mu   sync.Mutex
	err  error // the first send error: later chunks are dropped
}

func newOutStream(c *call) *outStream {
	o := &outStream{c: c, send: make(chan []byte, 2), free: make(chan []byte, 3), done: make(chan struct{})}
	for i := 0; i < 3; i++ {
		o.free <- make([]byte, 0, proto.ChunkSize)
	}
	o.buf = <-o.free
	go o.sender()
	return o
}

func (o *outStream) sender() {
	defer close(o.done)
	for b := range o.send {
		if o.sendErr() == nil {
			if err := o.c.s.send(proto.Frame{Kind: proto.KindData, ID: o.c.id, Payload: b}); err != nil {
				o.mu.Lock()
				o.err = err
				o.mu.Unlock()
			}
		}
		o.free <- b[:0]
	}
}

func (o *outStream) sendErr() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

func (o *outStream) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if err := o.c.ctx.Err(); err != nil {
			return n, err
		}
		k := copy(o.buf[len(o.buf):cap(o.buf)], p)
		o.buf = o.buf[:len(o.buf)+k]
		p = p[k:]
		n += k
		if len(o.buf) == cap(o.buf) {
			if err := o.handoff(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// ReadFrom lets io.Copy fill whole chunks straight from a file.
func (o *outStream) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if err := o.c.ctx.Err(); err != nil {
			return total, err
		}
		n, err := r.Read(o.buf[len(o.buf):cap(o.buf)])
		o.buf = o.buf[:len(o.buf)+n]
		total += int64(n)
		if len(o.buf) == cap(o.buf) {
			if herr := o.handoff(); herr != nil {
				return total, herr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// handoff queues the full chunk for sending and takes an empty one. A
// send that already failed stops the writer there, not at flush.
func (o *outStream) handoff() error {
	o.send <- o.buf
	o.buf = <-o.free
	return o.sendErr()
}

// abort stops the sender without sending what is left.
func (o *outStream) abort() {
	o.buf = nil
	close(o.send)
	<-o.done
}

// flush sends what is left and waits until every chunk is out.
func (o *outStream) flush() error {
	if len(o.buf) > 0 {
		o.send <- o.buf
		o.buf = nil
	}
	close(o.send)
	<-o.done
	return o.err
}
