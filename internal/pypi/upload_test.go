package pypi

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// received is what a fake index saw of one upload.
type received struct {
	User, Password string
	Fields         map[string][]string
	FileName       string
	Content        []byte
	Chunked        bool
}

// fakeIndex records uploads and answers each with respond(file name).
func fakeIndex(t *testing.T, respond func(w http.ResponseWriter, file string)) (*httptest.Server, *[]received) {
	t.Helper()
	var mu sync.Mutex
	var got []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
			return
		}
		rec := received{Fields: r.MultipartForm.Value, Chunked: len(r.TransferEncoding) > 0}
		rec.User, rec.Password, _ = r.BasicAuth()
		if fhs := r.MultipartForm.File["content"]; len(fhs) == 1 {
			f, err := fhs[0].Open()
			if err != nil {
				t.Error(err)
				return
			}
			rec.Content, _ = io.ReadAll(f)
			f.Close()
			rec.FileName = fhs[0].Filename
		}
		mu.Lock()
		got = append(got, rec)
		mu.Unlock()
		respond(w, rec.FileName)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func hexSum(h interface{ Sum([]byte) []byte }) string { return hex.EncodeToString(h.Sum(nil)) }

func TestUploadSendsLegacyForm(t *testing.T) {
	dir := t.TempDir()
	whl := writeWheel(t, dir, "demo.pkg-1.2.3-py3-none-any.whl", map[string]string{
		"demo/__init__.py":                  "x = 1\n",
		"demo.pkg-1.2.3.dist-info/METADATA": demoMetadata,
	})
	sdist := writeSdist(t, dir, "demo.pkg-1.2.3.tar.gz", map[string]string{
		"demo.pkg-1.2.3/PKG-INFO": strings.Replace(demoMetadata, "Metadata-Version: 2.1", "Metadata-Version: 2.4", 1),
	})
	// Not distributions: must be ignored.
	for _, n := range []string{"notes.txt", "demo.pkg-1.2.3-py3-none-any.whl.asc"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv, got := fakeIndex(t, func(w http.ResponseWriter, _ string) { w.WriteHeader(http.StatusOK) })

	var logs []string
	results, err := Upload(context.Background(), dir, UploadOptions{
		RepositoryURL: srv.URL + "/legacy/",
		Password:      "pypi-SECRET",
		PrintHash:     true,
		Verbose:       true,
		Log:           func(s string) { logs = append(logs, s) },
	})
	if err != nil {
		t.Fatal(err)
	}

	digestsOf := func(p string) (string, string, string) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m, s, bl := md5.New(), sha256.New(), newBlake2b256()
		m.Write(b)
		s.Write(b)
		bl.Write(b)
		return hexSum(m), hexSum(s), hexSum(bl)
	}
	wantFields := func(p, filetype, pyversion, mdVersion string, licenseFiles []string) map[string][]string {
		m, s, b := digestsOf(p)
		f := map[string][]string{
			":action":                  {"file_upload"},
			"protocol_version":         {"1"},
			"metadata_version":         {mdVersion},
			"name":                     {"demo.pkg"},
			"version":                  {"1.2.3"},
			"summary":                  {"A demo"},
			"home_page":                {"https://example.org"},
			"classifiers":              {"Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License"},
			"requires_dist":            {"requests>=2"},
			"requires_python":          {">=3.9"},
			"description_content_type": {"text/markdown"},
			"description":              {"# Demo\n\nLong text.\n"},
			"filetype":                 {filetype},
			"pyversion":                {pyversion},
			"md5_digest":               {m},
			"sha256_digest":            {s},
			"blake2_256_digest":        {b},
		}
		if licenseFiles != nil {
			f["license_file"] = licenseFiles
		}
		return f
	}
	content := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	_, sdistSum, _ := digestsOf(sdist)
	_, whlSum, _ := digestsOf(whl)
	want := []received{
		// sorted by name: "demo.pkg-1.2.3-py3..." < "demo.pkg-1.2.3.tar.gz"
		{User: "__token__", Password: "pypi-SECRET", FileName: filepath.Base(whl), Content: content(whl),
			// Metadata 2.1 with License-File is what setuptools writes and PyPI rejects; dropped.
			Fields: wantFields(whl, "bdist_wheel", "py3", "2.1", nil)},
		{User: "__token__", Password: "pypi-SECRET", FileName: filepath.Base(sdist), Content: content(sdist),
			Fields: wantFields(sdist, "sdist", "source", "2.4", []string{"LICENSE"})},
	}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("uploads (-want +got):\n%s", diff)
	}
	wantResults := []Result{{File: whl, SHA256: whlSum}, {File: sdist, SHA256: sdistSum}}
	if diff := cmp.Diff(wantResults, results); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	joined := strings.Join(logs, "\n")
	for _, s := range []string{"Uploading " + filepath.Base(whl), "Uploading " + filepath.Base(sdist), "sha256 " + whlSum, "sha256 " + sdistSum} {
		if !strings.Contains(joined, s) {
			t.Errorf("log lacks %q:\n%s", s, joined)
		}
	}
	if strings.Contains(joined, "pypi-SECRET") {
		t.Errorf("log shows the password:\n%s", joined)
	}
}

func TestUploadResponses(t *testing.T) {
	const password = "pypi-AgEIcHlwaS5vcmc-secret"
	tests := []struct {
		name         string
		status       int
		body         string
		location     string
		skipExisting bool
		wantSkipped  bool
		wantErr      []string // substrings of the error; nil means success
	}{
		{name: "ok", status: 200},
		{name: "pypiserver conflict skipped", status: 409, body: "Package 'x' already exists!", skipExisting: true, wantSkipped: true},
		{name: "pypi 400 already exists skipped", status: 400, body: "400 File already exists ('demo-1.0.tar.gz', with blake2_256 hash 'cc97').", skipExisting: true, wantSkipped: true},
		{name: "conflict without skip-existing", status: 409, body: "Package 'x' already exists!",
			wantErr: []string{"demo-1.0.tar.gz", "409 Conflict", "already exists", "skip-existing"}},
		{name: "other 400 is not skipped", status: 400, body: "<html><body><h1>Invalid value for classifiers</h1></body></html>", skipExisting: true,
			wantErr: []string{"demo-1.0.tar.gz", "400 Bad Request", "Invalid value for classifiers"}},
		{name: "bad password echoed back is scrubbed", status: 403, body: "Invalid API Token: " + password,
			wantErr: []string{"403 Forbidden", "Invalid API Token: ***", "check the user"}},
		{name: "redirect means wrong URL", status: 301, location: "https://pypi.org/legacy/",
			wantErr: []string{"301", "redirected to https://pypi.org/legacy/", "repository URL is probably wrong"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			sd := writeSdist(t, dir, "demo-1.0.tar.gz", map[string]string{"demo-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"})
			srv, _ := fakeIndex(t, func(w http.ResponseWriter, _ string) {
				if tt.location != "" {
					w.Header().Set("Location", tt.location)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			var logs []string
			res, err := Upload(context.Background(), dir, UploadOptions{
				RepositoryURL: srv.URL, Password: password, SkipExisting: tt.skipExisting,
				Verbose: true, Log: func(s string) { logs = append(logs, s) },
			})
			if strings.Contains(strings.Join(logs, "\n"), password) {
				t.Errorf("log shows the password: %q", logs)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				want := []Result{{File: sd, SHA256: res[0].SHA256, Skipped: tt.wantSkipped}}
				if diff := cmp.Diff(want, res); diff != "" {
					t.Errorf("results (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("upload succeeded, want error with %q", tt.wantErr)
			}
			var ue *UploadError
			if !errors.As(err, &ue) || ue.StatusCode != tt.status {
				t.Errorf("error %v: want *UploadError with status %d", err, tt.status)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error shows the password: %q", err)
			}
		})
	}
}

func TestUploadStopsAtFirstFailure(t *testing.T) {
	dir := t.TempDir()
	writeSdist(t, dir, "a-1.0.tar.gz", map[string]string{"a-1.0/PKG-INFO": "Name: a\nVersion: 1.0\n"})
	writeSdist(t, dir, "b-1.0.tar.gz", map[string]string{"b-1.0/PKG-INFO": "Name: b\nVersion: 1.0\n"})
	srv, got := fakeIndex(t, func(w http.ResponseWriter, _ string) { http.Error(w, "boom", http.StatusInternalServerError) })
	res, err := Upload(context.Background(), dir, UploadOptions{RepositoryURL: srv.URL})
	if err == nil || !strings.Contains(err.Error(), "a-1.0.tar.gz") || !strings.Contains(err.Error(), "500") {
		t.Fatalf("error %v: want a 500 naming a-1.0.tar.gz", err)
	}
	if len(res) != 0 || len(*got) != 1 {
		t.Errorf("got %d results and %d requests, want 0 and 1", len(res), len(*got))
	}
	if (*got)[0].User != "" {
		t.Errorf("sent basic auth %q without a password", (*got)[0].User)
	}
}

func TestUploadInputErrors(t *testing.T) {
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "README"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, url, want string
	}{
		{"no distributions", empty, "http://127.0.0.1:1/", "no distributions"},
		{"missing dir", filepath.Join(empty, "nope"), "http://127.0.0.1:1/", "listing distributions"},
		{"bad URL keeps secret out", empty, "ftp://user:hunter2@host/", "not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Upload(context.Background(), tt.dir, UploadOptions{RepositoryURL: tt.url})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// An index that refuses an upload by answering before it reads the body, and closing, is
// reported as its refusal, not as the broken pipe the write then gets. pypiserver does this to
// an upload without credentials.
func TestUploadRefusedBeforeTheBodyIsRead(t *testing.T) {
	dir := t.TempDir()
	// Bigger than the socket buffers, so the write is still going when the index closes.
	big := make([]byte, 8<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	writeWheel(t, dir, "demo.pkg-1.2.3-py3-none-any.whl", map[string]string{
		"demo/blob.bin":                     string(big),
		"demo.pkg-1.2.3.dist-info/METADATA": demoMetadata,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var expects []string // the Expect header of each request
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				// Closed with the body unread: the kernel resets the connection, and the client
				// may lose the answer it had not read yet.
				defer c.Close()
				r := bufio.NewReader(c)
				req, err := http.ReadRequest(r)
				if err != nil {
					return
				}
				mu.Lock()
				expects = append(expects, req.Header.Get("Expect"))
				mu.Unlock()
				io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\nConnection: close\r\n\r\nlog in first")
			}()
		}
	}()
	for i := range 5 {
		_, err := Upload(context.Background(), dir, UploadOptions{RepositoryURL: "http://" + ln.Addr().String() + "/"})
		var ue *UploadError
		if !errors.As(err, &ue) || ue.StatusCode != http.StatusUnauthorized {
			t.Fatalf("upload %d: got %v, want an UploadError with status 401", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(expects) < 5 {
		t.Errorf("the index saw %d requests, want at least 5", len(expects))
	}
}
