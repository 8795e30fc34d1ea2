package engine

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"unsafe"
)

// junitCapture keeps every JUnit report written into one directory while a
// step runs. pytest writes its report once, at the end of its session, to
// the path PYTEST_ADDOPTS names; a step that runs pytest twice writes that
// path twice, so each version is read when the writer closes it (an
// inotify close-write event), long before the next pytest session ends.
type junitCapture struct {
	dir     string
	fd      int
	mu      sync.Mutex
	reports [][]byte
	done    chan struct{}
}

const junitStop = ".sluice-stop"

func startJUnitCapture(dir string) *junitCapture {
	c := &junitCapture{dir: dir, fd: -1, done: make(chan struct{})}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		close(c.done)
		return c
	}
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		close(c.done)
		return c
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CLOSE_WRITE|syscall.IN_MOVED_TO); err != nil {
		syscall.Close(fd)
		close(c.done)
		return c
	}
	c.fd = fd
	go c.loop()
	return c
}

func (c *junitCapture) loop() {
	defer close(c.done)
	defer syscall.Close(c.fd)
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(c.fd, buf)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			return
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
			name := string(bytes.TrimRight(nameBytes, "\x00"))
			off += syscall.SizeofInotifyEvent + int(ev.Len)
			if name == junitStop {
				return
			}
			c.read(filepath.Join(c.dir, name), false)
		}
	}
}

// read keeps the report at p; at the end (final) one equal to the last
// kept is the same write seen again.
func (c *junitCapture) read(p string, final bool) {
	// The directory is the job's to write: a link in it is not followed
	// out of it.
	b, err := readInside(c.dir, filepath.Base(p))
	if err != nil || len(b) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if final && len(c.reports) > 0 && bytes.Equal(c.reports[len(c.reports)-1], b) {
		return
	}
	c.reports = append(c.reports, b)
}

// stop ends the capture and returns the reports, in the order written; a
// report the watch missed (no inotify) is read from the directory.
func (c *junitCapture) stop() [][]byte {
	if c.fd >= 0 {
		if r, err := os.OpenRoot(c.dir); err == nil {
			_ = r.Remove(junitStop) // never written through a link the job left
			_ = r.WriteFile(junitStop, nil, 0o644)
			r.Close()
		}
	}
	<-c.done
	if des, err := os.ReadDir(c.dir); err == nil {
		for _, d := range des {
			if d.Name() != junitStop {
				c.read(filepath.Join(c.dir, d.Name()), true)
			}
		}
	}
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
