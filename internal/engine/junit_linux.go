package engine

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// junitCapture keeps every version of one JUnit report written while a step
// runs. pytest writes its report once, at the end of its session, to the path
// PYTEST_ADDOPTS names; a step that runs pytest twice writes that path twice,
// so each version is read when the writer closes it (an inotify close-write
// event), long before the next pytest session ends. The directory is the
// job's, shared by its steps (one at a time), each with its own file name:
// a directory per step cost a step a mkdir and the job's end a removal each.
type junitCapture struct {
	dir     string
	name    string
	f       *os.File // the inotify descriptor, read through the runtime's poller
	mu      sync.Mutex
	reports [][]byte
	done    chan struct{}
}

func startJUnitCapture(dir, name string) *junitCapture {
	c := &junitCapture{dir: dir, name: name, done: make(chan struct{})}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		close(c.done)
		return c
	}
	// Non-blocking, so that reads wait in the runtime's poller and stop can wake the reader
	// with a deadline.
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		close(c.done)
		return c
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CLOSE_WRITE|syscall.IN_MOVED_TO); err != nil {
		syscall.Close(fd)
		close(c.done)
		return c
	}
	c.f = os.NewFile(uintptr(fd), "inotify")
	go c.loop()
	return c
}

func (c *junitCapture) loop() {
	defer close(c.done)
	// Closing an inotify instance waits for the kernel's grace period (synchronize_srcu), up
	// to ~20 ms: the step need not wait for it.
	defer func() { go c.f.Close() }()
	// An event is 16 bytes and a file name: 4 KiB holds dozens.
	buf := make([]byte, 4<<10)
	for {
		n, err := c.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.drain(buf) // stop: the step's process has ended, its events are queued
			}
			return
		}
		c.events(buf[:n])
	}
}

// drain handles the events queued now, without waiting for more.
func (c *junitCapture) drain(buf []byte) {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.Read(int(fd), buf)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || n <= 0 {
				return true // EAGAIN: nothing more queued
			}
			c.events(buf[:n])
		}
	})
}

// events reads the reports that a buffer of inotify events names.
func (c *junitCapture) events(buf []byte) {
	for off := 0; off+syscall.SizeofInotifyEvent <= len(buf); {
		ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
		end := off + syscall.SizeofInotifyEvent + int(ev.Len)
		if end > len(buf) {
			return
		}
		name := string(bytes.TrimRight(buf[off+syscall.SizeofInotifyEvent:end], "\x00"))
		off = end
		if name == c.name {
			c.read()
		}
	}
}

// read keeps the report unless it is the last kept one again.
func (c *junitCapture) read() {
	// The directory is the job's to write: a link in it is not followed
	// out of it.
	b, err := readInside(c.dir, c.name)
	if err != nil || len(b) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// The same bytes as the last kept are the same write seen again (a later event for a file
	// already read at its newest, or the final pass): pytest's reports carry their own times.
	if len(c.reports) > 0 && bytes.Equal(c.reports[len(c.reports)-1], b) {
		return
	}
	c.reports = append(c.reports, b)
}

// stop ends the capture and returns the reports, in the order written; a
// report the watch missed (no inotify) is read from the directory.
func (c *junitCapture) stop() [][]byte {
	if c.f != nil {
		// Wakes the reader at once; it handles what is queued and ends.
		_ = c.f.SetReadDeadline(time.Now())
	}
	<-c.done
	c.read()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reports
}

// readInside reads dir/name, at most maxJUnitBytes, without leaving dir
// through a link.
func readInside(dir, name string) ([]byte, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxJUnitBytes))
}
