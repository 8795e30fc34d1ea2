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

// junitWatch keeps every version of the JUnit report the running step of a
// job writes. pytest writes its report once, at the end of its session, to the
// path PYTEST_ADDOPTS names; a step that runs pytest twice writes that path
// twice, so each version is read when the writer closes it (an inotify
// close-write event), long before the next pytest session ends.
//
// One watch serves the whole job: its steps run one at a time, each with its
// own file name in the job's junit directory. A watch per step cost each step
// a directory, an inotify instance and a thread blocked closing it (the close
// waits for the kernel's grace period, up to ~20 ms).
type junitWatch struct {
	dir  string
	f    *os.File // the inotify instance; nil without one (reports are read at the step's end)
	fd   int
	rc   syscall.RawConn
	done chan struct{}

	// mu is held while events are read and handled, by the loop or by stop: an event
	// queued before stop took it is handled before stop returns.
	mu      sync.Mutex
	name    string // the running step's report file, "" between steps
	reports [][]byte
	buf     []byte
}

func newJUnitWatch(dir string) *junitWatch {
	w := &junitWatch{dir: dir, done: make(chan struct{}), buf: make([]byte, 4<<10)}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		close(w.done)
		return w
	}
	// Non-blocking: the loop waits in the runtime's poller, and stop reads what is queued
	// without waiting.
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		close(w.done)
		return w
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CLOSE_WRITE|syscall.IN_MOVED_TO); err != nil {
		syscall.Close(fd)
		close(w.done)
		return w
	}
	f := os.NewFile(uintptr(fd), "inotify")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		close(w.done)
		return w
	}
	w.f, w.fd, w.rc = f, fd, rc
	go w.loop()
	return w
}

func (w *junitWatch) loop() {
	defer close(w.done)
	// f reads everything queued, then asks the poller to wait for more; Read returns when
	// close sets a deadline.
	_ = w.rc.Read(func(fd uintptr) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.readQueued(int(fd)) != nil
	})
}

// readQueued handles the events queued now, without waiting for more. It returns an error
// only when the descriptor cannot be read at all. w.mu is held.
func (w *junitWatch) readQueued(fd int) error {
	for {
		n, err := syscall.Read(fd, w.buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return nil
		case err != nil:
			return err
		case n <= 0:
			return errors.New("inotify: empty read")
		}
		w.events(w.buf[:n])
	}
}

// events reads the running step's report for each event that names it. w.mu is held.
func (w *junitWatch) events(buf []byte) {
	for off := 0; off+syscall.SizeofInotifyEvent <= len(buf); {
		ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
		end := off + syscall.SizeofInotifyEvent + int(ev.Len)
		if end > len(buf) {
			return
		}
		name := string(bytes.TrimRight(buf[off+syscall.SizeofInotifyEvent:end], "\x00"))
		off = end
		if name != "" && name == w.name {
			w.read()
		}
	}
}

// read keeps the running step's report unless it is the last kept one again. w.mu is held.
func (w *junitWatch) read() {
	// The directory is the job's to write: a link in it is not followed
	// out of it.
	b, err := readInside(w.dir, w.name)
	if err != nil || len(b) == 0 {
		return
	}
	// The same bytes as the last kept are the same write seen again (a later event for a file
	// already read at its newest, or the final pass): pytest's reports carry their own times.
	if len(w.reports) > 0 && bytes.Equal(w.reports[len(w.reports)-1], b) {
		return
	}
	w.reports = append(w.reports, b)
}

// start begins a step whose report is the file name in the watch's directory.
func (w *junitWatch) start(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.name, w.reports = name, nil
}

// stop ends the step and returns its reports, in the order written; the
// file's last version is read again in case the watch missed it.
func (w *junitWatch) stop() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		// The step's processes have ended: their events are queued.
		_ = w.readQueued(w.fd)
	}
	w.read()
	out := w.reports
	w.name, w.reports = "", nil
	return out
}

// close ends the watch at the job's end.
func (w *junitWatch) close() {
	if w.f == nil {
		return
	}
	_ = w.f.SetReadDeadline(time.Now())
	<-w.done
	// Closing an inotify instance waits for the kernel's grace period: the job need not.
	go w.f.Close()
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
