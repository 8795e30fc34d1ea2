package python

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/fslock"
)

// PipCheckInterval is how often the index is asked for pip's newest
// release. GitHub's Python builds carry the pip current when the runner
// image was built (weekly); checking hourly keeps a warm machine's pip the
// one a fresh machine would get.
const PipCheckInterval = time.Hour

// pipPage is what the cache remembers of the index's pip page.
type pipPage struct {
	Checked time.Time `json:"checked"`
	Index   string    `json:"index"`
	Files   []File    `json:"files"`
}

// CurrentPip returns a wheel of the newest pip release that runs on
// interp, from index, kept in dir: the index is asked at most once per
// PipCheckInterval and each wheel is downloaded once (sha256-checked). When
// the index cannot be reached, the newest wheel already kept for interp
// serves; with none kept, it fails and the caller falls back to the
// interpreter's bundled pip.
func CurrentPip(ctx context.Context, client *http.Client, dir, index string, interp Interpreter, now time.Time) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	unlock, err := fslock.Lock(filepath.Join(dir, ".lock"))
	if err != nil {
		return "", fmt.Errorf("locking %s: %w", dir, err)
	}
	defer unlock()
	pagePath := filepath.Join(dir, "page.json")
	var page pipPage
	if b, err := os.ReadFile(pagePath); err == nil {
		_ = json.Unmarshal(b, &page)
	}
	var fetchErr error
	if page.Index != index || now.Sub(page.Checked) >= PipCheckInterval || now.Before(page.Checked) {
		files, err := ProjectFiles(ctx, client, IndexSpec{URLs: []string{index}}, "pip")
		switch {
		case err != nil:
			fetchErr = err
		case len(files) == 0:
			fetchErr = fmt.Errorf("%s lists no pip", Redact(index))
		default:
			page = pipPage{Checked: now, Index: index, Files: files}
			if b, err := json.Marshal(page); err == nil {
				_ = os.WriteFile(pagePath, b, 0o644)
			}
		}
	}
	best, ok := newestPip(page.Files, interp)
	if fetchErr != nil && (page.Index != index || !ok) {
		return keptPip(dir, interp, fetchErr)
	}
	if !ok {
		return "", fmt.Errorf("%s has no pip wheel for Python %s", Redact(index), interp.Version)
	}
	path := filepath.Join(dir, best.Name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := download(ctx, client, best, path); err != nil {
		if fetchErr == nil {
			fetchErr = err
		}
		return keptPip(dir, interp, fetchErr)
	}
	return path, nil
}

// newestPip picks the newest final-release, not yanked, pure-Python pip
// wheel whose Requires-Python admits interp.
func newestPip(files []File, interp Interpreter) (File, bool) {
	var best File
	var bestV pepVersion
	found := false
	iv, err := parseVersion(interp.Version)
	if err != nil {
		return File{}, false
	}
	for _, f := range files {
		v, ok := pipWheelVersion(f.Name)
		if !ok || f.Yanked || v.isPrerelease() {
			continue
		}
		if f.RequiresPython != "" {
			cs, err := parseSpecifier(f.RequiresPython)
			if err != nil || !satisfiesAll(cs, iv) {
				continue
			}
		}
		if !found || compareVersions(v, bestV) > 0 {
			best, bestV, found = f, v, true
		}
	}
	return best, found
}

func pipWheelVersion(name string) (pepVersion, bool) {
	rest, ok := strings.CutPrefix(name, "pip-")
	if !ok || !strings.HasSuffix(name, "-py3-none-any.whl") {
		return pepVersion{}, false
	}
	ver, _, _ := strings.Cut(rest, "-")
	v, err := parseVersion(ver)
	return v, err == nil
}

// keptPip is the wheel interp's minor version took last time (see
// RememberPip), for when the index cannot be asked.
func keptPip(dir string, interp Interpreter, why error) (string, error) {
	if b, err := os.ReadFile(filepath.Join(dir, "for-"+minor(interp.Version))); err == nil {
		if p := filepath.Join(dir, filepath.Base(strings.TrimSpace(string(b)))); fileExists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("no current pip: %w", why)
}

// RememberPip notes which wheel an interpreter's minor version took, so an
// offline machine picks it again.
func RememberPip(dir string, interp Interpreter, wheel string) {
	_ = os.WriteFile(filepath.Join(dir, "for-"+minor(interp.Version)), []byte(filepath.Base(wheel)+"\n"), 0o644)
}

func minor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func download(ctx context.Context, client *http.Client, f File, dst string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL, nil)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", f.Name, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", f.Name, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("downloading %s: %s", f.Name, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(resp.Body, 256<<20)); err != nil {
		tmp.Close()
		return fmt.Errorf("downloading %s: %w", f.Name, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); f.SHA256 != "" && got != f.SHA256 {
		return fmt.Errorf("downloading %s: sha256 %s, the index lists %s", f.Name, got, f.SHA256)
	}
	return os.Rename(tmp.Name(), dst)
}
