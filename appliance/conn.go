package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gfs/appliance/proto"
)

// ErrAgentTimeout means the agent stopped answering: no frame, not even a
// heartbeat, for longer than the agent timeout while a call waited.
var ErrAgentTimeout = errors.New("appliance stopped answering")

// conn is the host end of the channel: it sends calls, routes replies
// and stream chunks to their callers, and watches the agent's heartbeat.
type conn struct {
	c       net.Conn
	wmu     sync.Mutex
	nextID  atomic.Uint64
	mu      sync.Mutex
	pending map[uint64]*pendingCall
	err     error // set once the connection is dead
	dead    chan struct{}
	// lastFrame is when the reader last received anything (UnixNano).
	lastFrame atomic.Int64
	// inDelivery is set while the reader is blocked handing data to a
	// slow consumer, which is not the agent's fault.
	inDelivery atomic.Bool
	timeout    time.Duration
	// exitReason, when set, explains a dead channel (QEMU exited…);
	// exited closes when QEMU has exited.
	exitReason func() error
	exited     <-chan struct{}
}

type pendingCall struct {
	done   chan struct{}
	result json.RawMessage
	err    error
	out    io.Writer // download stream destination
	outErr error
}

func newConn(c net.Conn, timeout time.Duration) *conn {
	k := &conn{c: c, pending: map[uint64]*pendingCall{}, dead: make(chan struct{}), timeout: timeout}
	k.lastFrame.Store(time.Now().UnixNano())
	return k
}

// hello waits for the agent's greeting.
func (k *conn) hello(ctx context.Context) (proto.Hello, error) {
	type res struct {
		h   proto.Hello
		err error
	}
	ch := make(chan res, 1)
	go func() {
		for {
			f, err := proto.Read(k.c, nil)
			if err != nil {
				ch <- res{err: err}
				return
			}
			if f.Kind == proto.KindPing {
				continue
			}
			if f.Kind != proto.KindHello {
				ch <- res{err: fmt.Errorf("protocol: expected hello, got %s", f.Kind)}
				return
			}
			var h proto.Hello
			if err := json.Unmarshal(f.Payload, &h); err != nil {
				ch <- res{err: fmt.Errorf("protocol: bad hello: %w", err)}
				return
			}
			ch <- res{h: h}
			return
		}
	}()
	select {
	case r := <-ch:
		if r.err == nil && r.h.Version != proto.Version {
			r.err = fmt.Errorf("agent speaks protocol %d, this gfs speaks %d (rebuild the appliance: gfs appliance clean)", r.h.Version, proto.Version)
		}
		return r.h, r.err
	case <-ctx.Done():
		// Unblock the reader goroutine.
		k.c.SetReadDeadline(time.Now())
		<-ch
		k.c.SetReadDeadline(time.Time{})
		return proto.Hello{}, ctx.Err()
	}
}

// start runs the reader and the watchdog.
func (k *conn) start() {
	go k.readLoop()
	go k.watchdog()
}

func (k *conn) readLoop() {
	buf := make([]byte, proto.ChunkSize+4096)
	for {
		f, err := proto.Read(k.c, buf)
		if err != nil {
			// A broken channel usually means QEMU died; the socket
			// notices first. Give the exit a moment to be reaped so the
			// error says why.
			if k.exited != nil {
				select {
				case <-k.exited:
				case <-time.After(time.Second):
				}
			}
			k.fail(err)
			return
		}
		k.lastFrame.Store(time.Now().UnixNano())
		switch f.Kind {
		case proto.KindPing:
		case proto.KindReply, proto.KindError:
			k.mu.Lock()
			p := k.pending[f.ID]
			delete(k.pending, f.ID)
			k.mu.Unlock()
			if p == nil {
				continue
			}
			if f.Kind == proto.KindReply {
				p.result = append(json.RawMessage(nil), f.Payload...)
			} else {
				var e proto.Error
				if err := json.Unmarshal(f.Payload, &e); err != nil {
					e = proto.Error{Errno: int(syscall.EPROTO), Message: "bad error frame"}
				}
				p.err = &e
			}
			close(p.done)
		case proto.KindData:
			k.mu.Lock()
			p := k.pending[f.ID]
			k.mu.Unlock()
			if p == nil || p.out == nil || p.outErr != nil {
				continue
			}
			k.inDelivery.Store(true)
			_, p.outErr = p.out.Write(f.Payload)
			k.inDelivery.Store(false)
			k.lastFrame.Store(time.Now().UnixNano())
			if p.outErr != nil {
				// The destination failed (disk full…): stop the agent.
				k.send(proto.Frame{Kind: proto.KindCancel, ID: f.ID})
			}
		}
	}
}

// watchdog fails every call when the agent has been silent too long
// while calls were waiting. The agent sends a heartbeat every second,
// so silence means the VM is hung (or stopped), not merely busy.
func (k *conn) watchdog() {
	tick := time.NewTicker(k.timeout / 4)
	defer tick.Stop()
	for {
		select {
		case <-k.dead:
			return
		case <-tick.C:
		}
		k.mu.Lock()
		waiting := len(k.pending) > 0
		k.mu.Unlock()
		if !waiting || k.inDelivery.Load() {
			continue
		}
		silent := time.Since(time.Unix(0, k.lastFrame.Load()))
		if silent > k.timeout {
			k.fail(fmt.Errorf("%w: no response for %.0f s", ErrAgentTimeout, silent.Seconds()))
			return
		}
	}
}

// fail marks the connection dead and ends every waiting call.
func (k *conn) fail(err error) {
	k.mu.Lock()
	if k.err != nil {
		k.mu.Unlock()
		return
	}
	if k.exitReason != nil {
		if why := k.exitReason(); why != nil {
			err = why
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = errors.New("appliance channel closed")
	}
	k.err = err
	pend := k.pending
	k.pending = map[uint64]*pendingCall{}
	close(k.dead)
	k.mu.Unlock()
	k.c.Close()
	for _, p := range pend {
		p.err = err
		close(p.done)
	}
}

func (k *conn) send(f proto.Frame) error {
	k.wmu.Lock()
	defer k.wmu.Unlock()
	return proto.Write(k.c, f)
}

// call sends one call and waits for its end. in, if set, is streamed to
// the agent after the call; out, if set, receives the agent's stream.
// Cancelling ctx asks the agent to stop and returns at once.
func (k *conn) call(ctx context.Context, name string, args []any, opts map[string]any, in io.Reader, out io.Writer) (json.RawMessage, error) {
	req := proto.Call{Name: name, Opts: opts, Stream: in != nil}
	for _, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("%s: argument: %w", name, err)
		}
		req.Args = append(req.Args, b)
	}
	id := k.nextID.Add(1)
	p := &pendingCall{done: make(chan struct{}), out: out}
	k.mu.Lock()
	if k.err != nil {
		err := k.err
		k.mu.Unlock()
		return nil, err
	}
	k.pending[id] = p
	k.mu.Unlock()
	// The watchdog measures silence from the moment a call starts waiting.
	k.lastFrame.Store(time.Now().UnixNano())

	f, err := proto.JSON(proto.KindCall, id, req)
	if err != nil {
		return nil, err
	}
	if err := k.send(f); err != nil {
		k.fail(err)
		<-p.done
		return nil, p.err
	}
	var upErr error
	upDone := make(chan struct{})
	if in != nil {
		go func() {
			defer close(upDone)
			upErr = k.upload(ctx, id, in, p.done)
		}()
	} else {
		close(upDone)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		k.send(proto.Frame{Kind: proto.KindCancel, ID: id})
		k.mu.Lock()
		delete(k.pending, id)
		k.mu.Unlock()
		<-upDone
		return nil, ctx.Err()
	}
	<-upDone
	// A failed destination comes first: the agent's error, if any, is
	// only its answer to the cancel that failure sent.
	if p.outErr != nil {
		return nil, p.outErr
	}
	if p.err != nil {
		return nil, p.err
	}
	if upErr != nil {
		return nil, upErr
	}
	return p.result, nil
}

// upload streams in to the agent as Data frames, then EOF. A read error
// on the host side cancels the call.
func (k *conn) upload(ctx context.Context, id uint64, in io.Reader, done chan struct{}) error {
	buf := make([]byte, proto.ChunkSize)
	for {
		select {
		case <-done:
			return nil // the agent ended the call (an error, usually)
		case <-ctx.Done():
			return nil
		default:
		}
		n, err := io.ReadFull(in, buf)
		if n > 0 {
			if werr := k.send(proto.Frame{Kind: proto.KindData, ID: id, Payload: buf[:n]}); werr != nil {
				return werr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return k.send(proto.Frame{Kind: proto.KindEOF, ID: id})
		}
		if err != nil {
			k.send(proto.Frame{Kind: proto.KindCancel, ID: id})
			return err
		}
	}
}

func (k *conn) close() {
	k.fail(errors.New("appliance closed"))
}
