// Package pypi publishes Python distributions to a package index through the
// legacy upload API that PyPI, TestPyPI, pypiserver, devpi, Nexus and
// Artifactory share — what pypa/gh-action-pypi-publish does through twine.
package pypi

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// DefaultRepositoryURL is PyPI's upload endpoint.
const DefaultRepositoryURL = "https://upload.pypi.org/legacy/"

// DefaultUser is the user name that goes with a PyPI API token.
const DefaultUser = "__token__"

// UploadOptions are the inputs of pypa/gh-action-pypi-publish that shape an
// upload. Empty RepositoryURL and User take the action's defaults.
type UploadOptions struct {
	RepositoryURL, User, Password    string
	SkipExisting, Verbose, PrintHash bool
	// Log receives progress lines; nil discards them. It never sees the password.
	Log func(string)
}

// Result is what happened to one distribution file.
type Result struct {
	File    string // path of the file: dir joined with its name
	SHA256  string // hex digest of the file
	Skipped bool   // the index already had it and SkipExisting was set
}

// UploadError is a refusal by the index (or an unexpected answer from it).
type UploadError struct {
	File       string
	URL        string // the repository URL, credentials removed
	StatusCode int
	Status     string // status line, e.g. "403 Forbidden"
	Body       string // excerpt of the response body, credentials removed
	Hint       string
}

func (e *UploadError) Error() string {
	msg := fmt.Sprintf("uploading %s to %s: %s", filepath.Base(e.File), e.URL, e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

// Upload uploads every wheel and sdist in dir, in name order, and stops at
// the first failure; the results of the files handled so far come back with
// the error.
func Upload(ctx context.Context, dir string, o UploadOptions) ([]Result, error) {
	if o.RepositoryURL == "" {
		o.RepositoryURL = DefaultRepositoryURL
	}
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.Log == nil {
		o.Log = func(string) {}
	}
	u, err := url.Parse(o.RepositoryURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("repository URL %q is not an http(s) URL", redactURL(o.RepositoryURL))
	}
	files, err := distributions(dir)
	if err != nil {
		return nil, err
	}
	shownURL := u.Redacted()
	o.Log(fmt.Sprintf("Uploading %d distribution(s) from %s to %s", len(files), dir, shownURL))
	client := &http.Client{
		// The legacy API answers a wrong URL (PyPI without the trailing
		// slash, a simple-index URL) with a redirect; following it turns the
		// POST into a GET and hides the mistake.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var results []Result
	for _, f := range files {
		r, err := uploadFile(ctx, client, u, f, o)
		if err != nil {
			return results, err
		}
		results = append(results, r)
	}
	return results, nil
}

// distributions lists the wheels and sdists in dir, sorted.
func distributions(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing distributions: %w", err)
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && distType(e.Name()) != "" {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("no distributions (*.whl, *.tar.gz) in %s", dir)
	}
	return files, nil
}

type digests struct{ MD5, SHA256, Blake2b256 string }

func hashFile(p string) (digests, error) {
	f, err := os.Open(p)
	if err != nil {
		return digests{}, err
	}
	defer f.Close()
	m, s, b := md5.New(), sha256.New(), newBlake2b256()
	if _, err := io.Copy(io.MultiWriter(m, s, b), f); err != nil {
		return digests{}, fmt.Errorf("hashing %s: %w", p, err)
	}
	return digests{
		MD5:        hex.EncodeToString(m.Sum(nil)),
		SHA256:     hex.EncodeToString(s.Sum(nil)),
		Blake2b256: hex.EncodeToString(b.Sum(nil)),
	}, nil
}

func uploadFile(ctx context.Context, client *http.Client, u *url.URL, file string, o UploadOptions) (Result, error) {
	md, err := ReadMetadata(file)
	if err != nil {
		return Result{}, err
	}
	d, err := hashFile(file)
	if err != nil {
		return Result{}, err
	}
	res := Result{File: file, SHA256: d.SHA256}
	base := filepath.Base(file)
	if o.PrintHash {
		o.Log(fmt.Sprintf("%s: sha256 %s, md5 %s, blake2_256 %s", base, d.SHA256, d.MD5, d.Blake2b256))
	}
	fields := uploadForm(file, md, d)
	newReq := func(expectContinue bool) (*http.Request, error) {
		req, err := newUploadRequest(ctx, u, file, fields)
		if err != nil {
			return nil, err
		}
		if o.Password != "" {
			req.SetBasicAuth(o.User, o.Password)
		}
		req.Header.Set("User-Agent", "sluice (pypa/gh-action-pypi-publish compatible)")
		if expectContinue {
			req.Header.Set("Expect", "100-continue")
		}
		return req, nil
	}
	req, err := newReq(false)
	if err != nil {
		return res, err
	}

	o.Log(fmt.Sprintf("Uploading %s (%s %s, %s)", base, first(md, "Name"), first(md, "Version"), humanSize(req.ContentLength)))
	if o.Verbose {
		for _, f := range fields {
			o.Log(fmt.Sprintf("  form %s = %q", f.Name, excerpt(f.Value, 100)))
		}
	}
	resp, err := client.Do(req)
	if err != nil && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
		// An index that refuses an upload (no or wrong credentials, a file too big) may answer
		// and close before reading the body; the write then fails before the answer is read.
		// The index read no whole file, so nothing landed: ask again with Expect: 100-continue,
		// which lets it answer before the body is sent (an index that ignores the header gets
		// the body after the transport's wait).
		if req, err = newReq(true); err != nil {
			return res, err
		}
		resp, err = client.Do(req)
	}
	if err != nil {
		// url.Error would print the URL; ours has no credentials in it, but
		// say it plainly anyway.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return res, fmt.Errorf("uploading %s to %s: %w", base, u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if o.Verbose {
		o.Log(fmt.Sprintf("  response %s: %s", resp.Status, scrub(excerpt(textOf(body), 500), o.Password)))
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return res, nil
	}
	ue := &UploadError{
		File:       file,
		URL:        u.Redacted(),
		StatusCode: resp.StatusCode,
		Status:     scrub(resp.Status, o.Password),
		Body:       scrub(excerpt(textOf(body), 300), o.Password),
	}
	if o.SkipExisting && alreadyExists(resp.StatusCode, resp.Status+" "+string(body)) {
		o.Log(fmt.Sprintf("Skipping %s: the index already has it (%s)", base, ue.Status))
		res.Skipped = true
		return res, nil
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		ue.Hint = fmt.Sprintf("redirected to %s; the repository URL is probably wrong — PyPI's is %s",
			redactURL(resp.Header.Get("Location")), DefaultRepositoryURL)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		ue.Hint = fmt.Sprintf("check the user (%q) and the password or API token", o.User)
	case alreadyExists(resp.StatusCode, resp.Status+" "+string(body)):
		ue.Hint = "the index already has this file; set skip-existing to ignore that"
	}
	return res, ue
}

// newUploadRequest streams the file rather than buffering it, with an exact
// Content-Length because some indexes refuse chunked uploads.
func newUploadRequest(ctx context.Context, u *url.URL, file string, fields []formField) (*http.Request, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", file, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w", file, err)
	}
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	for _, fl := range fields {
		if err := mw.WriteField(fl.Name, fl.Value); err != nil {
			f.Close()
			return nil, fmt.Errorf("building upload form: %w", err)
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="content"; filename=%q`, filepath.Base(file)))
	h.Set("Content-Type", "application/octet-stream")
	if _, err := mw.CreatePart(h); err != nil {
		f.Close()
		return nil, fmt.Errorf("building upload form: %w", err)
	}
	var tail bytes.Buffer
	contentType := mw.FormDataContentType()
	// The closing boundary is written by hand: the part's content is the
	// file itself, streamed between head and tail.
	tail.WriteString("\r\n--" + mw.Boundary() + "--\r\n")
	body := io.MultiReader(bytes.NewReader(head.Bytes()), f, bytes.NewReader(tail.Bytes()))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), readCloser{body, f})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("building upload request: %w", err)
	}
	req.ContentLength = int64(head.Len()) + st.Size() + int64(tail.Len())
	req.Header.Set("Content-Type", contentType)
	return req, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// alreadyExists recognises the ways indexes say a file was uploaded before:
// 409 (pypiserver, devpi), PyPI's 400 "File already exists", Nexus's 400
// "updating asset" / 403 "overwrite artifact", Artifactory's 403.
func alreadyExists(status int, text string) bool {
	t := strings.ToLower(text)
	switch status {
	case http.StatusConflict:
		return true
	case http.StatusBadRequest:
		return strings.Contains(t, "already exist") || strings.Contains(t, "updating asset") ||
			strings.Contains(t, "cannot upload, file already")
	case http.StatusForbidden:
		return strings.Contains(t, "overwrite artifact") || strings.Contains(t, "already exist") ||
			strings.Contains(t, "not allow updating")
	}
	return false
}

var (
	tagRE   = lazyre.New(`(?is)<(script|style|title)[^>]*>.*?</(script|style|title)>|<[^>]*>`)
	spaceRE = lazyre.New(`\s+`)
)

// textOf makes a response body readable in one line: error pages are often
// HTML, whose <title> mostly repeats the status.
func textOf(body []byte) string {
	s := string(body)
	if strings.Contains(s, "<") {
		s = tagRE.ReplaceAllString(s, " ")
		s = html.UnescapeString(s)
	}
	return strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
}

func excerpt(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// scrub removes the password should a server echo it back.
func scrub(s, password string) string {
	if password == "" {
		return s
	}
	return strings.ReplaceAll(s, password, "***")
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
