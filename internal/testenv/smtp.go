package testenv

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SMTPServer is a real SMTP server (Python's aiosmtpd) on 127.0.0.1 that
// demands AUTH before MAIL and keeps every message it accepts; it is
// stopped when the test ends.
type SMTPServer struct {
	Host, Port     string
	User, Password string
	dir            string // one JSON file per accepted message
}

// Mail is a message the SMTP server accepted.
type Mail struct {
	From          string   `json:"mail_from"`
	To            []string `json:"rcpt_tos"`
	Data          string   `json:"data"`
	Authenticated bool     `json:"authenticated"`
}

// aiosmtpdVersion is pinned: the server script below uses its Controller
// and authenticator API.
const aiosmtpdVersion = "aiosmtpd==1.4.6"

const smtpScript = `
import json, os, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

host, port, outdir, user, password = sys.argv[1:6]

class Handler:
    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(outdir) if f.endswith(".json")])
        rec = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
               "data": envelope.original_content.decode("utf-8", "replace"),
               "authenticated": bool(session.authenticated)}
        tmp = os.path.join(outdir, ".%06d.tmp" % n)
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, os.path.join(outdir, "%06d.json" % n))
        return "250 Message accepted"

def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
    return AuthResult(success=ok, handled=False)

c = Controller(Handler(), hostname=host, port=int(port), authenticator=authenticate,
               auth_required=True, auth_require_tls=False)
c.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
`

// StartSMTP starts the SMTP server on a free port with a fresh user and
// password. It skips the test when aiosmtpd cannot be installed from PyPI.
func StartSMTP(t testing.TB, ctx context.Context) *SMTPServer {
	t.Helper()
	python := ToolsPython(t, "smtp", aiosmtpdVersion)
	dir := t.TempDir()
	s := &SMTPServer{Host: "127.0.0.1", Port: FreePort(t), User: "ci", Password: "pw-" + filepath.Base(dir), dir: filepath.Join(dir, "mail")}
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-c", smtpScript, s.Host, s.Port, s.dir, s.User, s.Password)
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting aiosmtpd: %v", err)
	}
	exited := make(chan struct{})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := sc.Scan() && sc.Text() == "ready"
		ready <- ok
		for sc.Scan() {
		}
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		logf.Close()
	})
	select {
	case ok := <-ready:
		if !ok {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("aiosmtpd did not start:\n%s", log)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("aiosmtpd did not start in 60s")
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	return s
}

// Mails returns the messages accepted so far, in order.
func (s *SMTPServer) Mails(t testing.TB) []Mail {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var out []Mail
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		var m Mail
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("reading %s: %v", n, err)
		}
		m.Data = strings.ReplaceAll(m.Data, "\r\n", "\n")
		out = append(out, m)
	}
	return out
}

// WaitMails waits (up to a minute) until at least n messages were accepted.
func (s *SMTPServer) WaitMails(t testing.TB, n int) []Mail {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if ms := s.Mails(t); len(ms) >= n || time.Now().After(deadline) {
			return ms
		}
		time.Sleep(50 * time.Millisecond)
	}
}
