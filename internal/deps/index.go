package deps

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/python"
)

// DefaultIndex is PyPI's simple API.
const DefaultIndex = "https://pypi.org/simple"

// Index reads release facts from a package index's simple API (PEP 691 JSON, or PEP 503
// HTML): versions, upload times (PEP 700; a file's Last-Modified where the index gives none,
// as pypiserver does) and a changelog link (the JSON API's project URLs, else the wheel's
// METADATA). Facts are kept on disk: an upload time never changes, so a package is asked
// again only when a version it needs is missing from what was kept.
type Index struct {
	URL      string // the simple API root, e.g. https://pypi.org/simple
	Client   *http.Client
	CacheDir string // "" keeps nothing
	mu       sync.Mutex
}

// Release is one version on the index.
type Release struct {
	Version  string    `json:"version"`
	Uploaded time.Time `json:"uploaded"` // zero when the index cannot tell
	Yanked   bool      `json:"yanked,omitempty"`
	Wheel    string    `json:"wheel,omitempty"` // URL of one wheel, for its METADATA
}

// ProjectInfo is what the index says about a package.
type ProjectInfo struct {
	Name       string            `json:"name"`
	Releases   []Release         `json:"releases"` // oldest first (PEP 440 order)
	Changelogs map[string]string `json:"changelogs,omitempty"`
}

// Release finds a version.
func (p *ProjectInfo) Release(v string) (Release, bool) {
	for _, r := range p.Releases {
		if sameVersion(r.Version, v) {
			return r, true
		}
	}
	return Release{}, false
}

func sameVersion(a, b string) bool {
	if a == b {
		return true
	}
	va, e1 := python.ParseVersion(a)
	vb, e2 := python.ParseVersion(b)
	return e1 == nil && e2 == nil && va.Compare(vb) == 0
}

const maxIndexPage = 32 << 20

func (ix *Index) client() *http.Client {
	if ix.Client != nil {
		return ix.Client
	}
	return &http.Client{Timeout: 60 * time.Second}
}

func (ix *Index) cachePath(name string) string {
	if ix.CacheDir == "" {
		return ""
	}
	h := sha256.Sum256([]byte(strings.TrimSuffix(ix.URL, "/")))
	return filepath.Join(ix.CacheDir, hex.EncodeToString(h[:8]), name+".json")
}

// Project returns the index's facts about name, asking the index only when the kept facts
// lack one of the versions in need.
func (ix *Index) Project(ctx context.Context, name string, need ...string) (*ProjectInfo, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("invalid package name %q", name)
	}
	name = python.NormalizeName(name)
	cp := ix.cachePath(name)
	if cp != "" {
		if b, err := os.ReadFile(cp); err == nil {
			var p ProjectInfo
			if json.Unmarshal(b, &p) == nil && hasAll(&p, need) {
				return &p, nil
			}
		}
	}
	p, err := ix.fetch(ctx, name)
	if err != nil {
		return nil, err
	}
	ix.save(p)
	return p, nil
}

// save keeps what is known of a package (releases and changelog links found so far).
func (ix *Index) save(p *ProjectInfo) {
	cp := ix.cachePath(p.Name)
	if cp == "" {
		return
	}
	ix.mu.Lock()
	b, err := json.Marshal(p)
	ix.mu.Unlock()
	if err != nil {
		return
	}
	_ = os.MkdirAll(filepath.Dir(cp), 0o755)
	f, err := os.CreateTemp(filepath.Dir(cp), filepath.Base(cp)+".*.tmp")
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr == nil && cerr == nil {
		_ = os.Rename(f.Name(), cp)
	} else {
		os.Remove(f.Name())
	}
}

func hasAll(p *ProjectInfo, need []string) bool {
	for _, v := range need {
		if _, ok := p.Release(v); !ok {
			return false
		}
	}
	return true
}

func (ix *Index) get(ctx context.Context, u string, accept string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := ix.client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, resp.Header, fmt.Errorf("GET %s: %s", redact(u), resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxIndexPage+1))
	if err != nil {
		return nil, nil, err
	}
	if len(b) > maxIndexPage {
		return nil, nil, fmt.Errorf("GET %s: the answer is over %d MiB", redact(u), maxIndexPage>>20)
	}
	return b, resp.Header, nil
}

// redact drops credentials from an index URL before it reaches a message.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	p.User = url.User("***")
	return p.String()
}

type simpleJSON struct {
	Files []struct {
		Filename   string `json:"filename"`
		URL        string `json:"url"`
		UploadTime string `json:"upload-time"`
		Yanked     any    `json:"yanked"`
	} `json:"files"`
}

var anchorRe = lazyre.New(`(?is)<a\s([^>]*)>([^<]*)</a>`)
var hrefRe = lazyre.New(`(?is)href\s*=\s*"([^"]*)"`)

func (ix *Index) fetch(ctx context.Context, name string) (*ProjectInfo, error) {
	pageURL := strings.TrimSuffix(ix.URL, "/") + "/" + name + "/"
	body, hdr, err := ix.get(ctx, pageURL, "application/vnd.pypi.simple.v1+json, text/html;q=0.1")
	if err != nil {
		return nil, fmt.Errorf("asking the index about %s: %w", name, err)
	}
	base, _ := url.Parse(pageURL)
	byVersion := map[string]*Release{}
	add := func(filename, href, uploaded string, yanked bool) {
		v, wheel := versionOfFile(name, filename)
		if v == "" {
			return
		}
		r := byVersion[v]
		if r == nil {
			r = &Release{Version: v, Yanked: true}
			byVersion[v] = r
		}
		r.Yanked = r.Yanked && yanked // a version is yanked when every file is
		if t, err := time.Parse(time.RFC3339, uploaded); err == nil && (r.Uploaded.IsZero() || t.Before(r.Uploaded)) {
			r.Uploaded = t
		}
		if wheel && r.Wheel == "" {
			if ref, err := url.Parse(href); err == nil {
				ref.Fragment = ""
				r.Wheel = base.ResolveReference(ref).String()
			}
		}
		if !wheel && r.Wheel == "" && href != "" {
			// Keep some file to date the release by when nothing else will.
			if ref, err := url.Parse(href); err == nil {
				ref.Fragment = ""
				r.Wheel = "sdist:" + base.ResolveReference(ref).String()
			}
		}
	}
	if strings.Contains(hdr.Get("Content-Type"), "json") {
		var doc simpleJSON
		if err := json.Unmarshal(body, &doc); err != nil {
			return nil, fmt.Errorf("reading the index's answer about %s: %w", name, err)
		}
		for _, f := range doc.Files {
			y := f.Yanked != nil && f.Yanked != false
			add(f.Filename, f.URL, f.UploadTime, y)
		}
	} else {
		for _, m := range anchorRe.FindAllStringSubmatch(string(body), -1) {
			h := hrefRe.FindStringSubmatch(m[1])
			if h == nil {
				continue
			}
			add(html.UnescapeString(strings.TrimSpace(m[2])), html.UnescapeString(h[1]), "", strings.Contains(strings.ToLower(m[1]), "data-yanked"))
		}
	}
	p := &ProjectInfo{Name: name}
	for _, r := range byVersion {
		p.Releases = append(p.Releases, *r)
	}
	sort.Slice(p.Releases, func(i, j int) bool { return newer(p.Releases[j].Version, p.Releases[i].Version) })
	ix.dateByFiles(ctx, p)
	for i := range p.Releases {
		if strings.HasPrefix(p.Releases[i].Wheel, "sdist:") {
			p.Releases[i].Wheel = ""
		}
	}
	return p, nil
}

// dateByFiles fills missing upload times from the Last-Modified of one file per version, for
// indexes that give no upload-time; only the newest releases are asked, in parallel.
func (ix *Index) dateByFiles(ctx context.Context, p *ProjectInfo) {
	const newest = 30
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := len(p.Releases) - 1; i >= 0 && i >= len(p.Releases)-newest; i-- {
		r := &p.Releases[i]
		if !r.Uploaded.IsZero() || r.Wheel == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			u := strings.TrimPrefix(r.Wheel, "sdist:")
			req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
			if err != nil {
				return
			}
			resp, err := ix.client().Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
				r.Uploaded = t.UTC()
			}
		}()
	}
	wg.Wait()
}

// versionOfFile reads the version out of a wheel or sdist file name of project name.
func versionOfFile(name, filename string) (string, bool) {
	if strings.HasSuffix(filename, ".whl") {
		parts := strings.Split(strings.TrimSuffix(filename, ".whl"), "-")
		if len(parts) >= 5 && python.NormalizeName(parts[0]) == name && ValidVersion(parts[1]) {
			return parts[1], true
		}
		return "", false
	}
	base := filename
	for _, ext := range []string{".tar.gz", ".zip", ".tar.bz2", ".tgz"} {
		if strings.HasSuffix(base, ext) {
			base = strings.TrimSuffix(base, ext)
			goto found
		}
	}
	return "", false
found:
	for i := 0; i < len(base); i++ {
		if base[i] == '-' && python.NormalizeName(base[:i]) == name && ValidVersion(base[i+1:]) {
			return base[i+1:], false
		}
	}
	return "", false
}

var changelogKeyRe = lazyre.New(`(?i)change|release ?notes|history|news|what'?s ?new`)

// Changelog returns a changelog link for version v of a package, or "": the JSON API's
// project URLs where the index has one (PyPI), else a Project-URL of the wheel's METADATA.
func (ix *Index) Changelog(ctx context.Context, p *ProjectInfo, v string) string {
	ix.mu.Lock()
	link, ok := p.Changelogs[v]
	ix.mu.Unlock()
	if ok {
		return link
	}
	link = ix.changelogFromJSON(ctx, p.Name, v)
	if link == "" {
		if r, ok := p.Release(v); ok && r.Wheel != "" {
			link = ix.changelogFromWheel(ctx, r.Wheel)
		}
	}
	ix.mu.Lock()
	if p.Changelogs == nil {
		p.Changelogs = map[string]string{}
	}
	p.Changelogs[v] = link
	ix.mu.Unlock()
	ix.save(p)
	return link
}

func (ix *Index) changelogFromJSON(ctx context.Context, name, v string) string {
	root := strings.TrimSuffix(strings.TrimSuffix(ix.URL, "/"), "/simple")
	if root == strings.TrimSuffix(ix.URL, "/") {
		return ""
	}
	body, _, err := ix.get(ctx, root+"/pypi/"+name+"/"+url.PathEscape(v)+"/json", "application/json")
	if err != nil {
		return ""
	}
	var doc struct {
		Info struct {
			ProjectURLs map[string]string `json:"project_urls"`
		} `json:"info"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	keys := make([]string, 0, len(doc.Info.ProjectURLs))
	for k := range doc.Info.ProjectURLs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if changelogKeyRe.MatchString(k) && safeLink(doc.Info.ProjectURLs[k]) {
			return doc.Info.ProjectURLs[k]
		}
	}
	return ""
}

// maxWheelForMetadata bounds what is downloaded to read one METADATA file.
const maxWheelForMetadata = 20 << 20

func (ix *Index) changelogFromWheel(ctx context.Context, wheelURL string) string {
	body, _, err := ix.get(ctx, wheelURL, "")
	if err != nil || len(body) > maxWheelForMetadata {
		return ""
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return ""
	}
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".dist-info/METADATA") || f.UncompressedSize64 > 4<<20 {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return ""
		}
		meta, _ := io.ReadAll(io.LimitReader(rc, 4<<20))
		rc.Close()
		for _, l := range strings.Split(string(meta), "\n") {
			l = strings.TrimRight(l, "\r")
			if l == "" {
				break // the headers end here
			}
			val, ok := strings.CutPrefix(l, "Project-URL:")
			if !ok {
				continue
			}
			label, link, ok := strings.Cut(val, ",")
			if ok && changelogKeyRe.MatchString(label) && safeLink(strings.TrimSpace(link)) {
				return strings.TrimSpace(link)
			}
		}
	}
	return ""
}

// safeLink admits http(s) links only: a changelog link ends up in a pull request and a page.
func safeLink(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && len(s) < 2048
}

// IndexURLFor is the simple API the project resolves against: its own configuration (uv's
// default or first index, poetry's primary source, pdm's pypi source, a requirements file's
// --index-url), else the environment's (UV_DEFAULT_INDEX, UV_INDEX_URL, PIP_INDEX_URL), else
// PyPI.
func IndexURLFor(p Project, env []string) string {
	if b, err := readLimited(filepath.Join(p.Dir, "pyproject.toml")); err == nil {
		var doc struct {
			Tool struct {
				UV struct {
					Index []struct {
						URL     string `toml:"url"`
						Default bool   `toml:"default"`
					} `toml:"index"`
					IndexURL string `toml:"index-url"`
				} `toml:"uv"`
				Poetry struct {
					Source []struct {
						URL      string `toml:"url"`
						Priority string `toml:"priority"`
					} `toml:"source"`
				} `toml:"poetry"`
				PDM struct {
					Source []struct {
						Name string `toml:"name"`
						URL  string `toml:"url"`
					} `toml:"source"`
				} `toml:"pdm"`
			} `toml:"tool"`
		}
		if decodeTOML(b, &doc) == nil {
			switch p.Tool {
			case UV:
				for _, ix := range doc.Tool.UV.Index {
					if ix.Default {
						return ix.URL
					}
				}
				if doc.Tool.UV.IndexURL != "" {
					return doc.Tool.UV.IndexURL
				}
			case Poetry:
				for _, s := range doc.Tool.Poetry.Source {
					if s.Priority == "primary" || s.Priority == "default" {
						return s.URL
					}
				}
			case PDM:
				for _, s := range doc.Tool.PDM.Source {
					if s.Name == "pypi" {
						return s.URL
					}
				}
			}
		}
	}
	if p.Tool == PipTools || p.Tool == UVPip || p.Tool == Requirements {
		files := []string{p.Lock}
		for _, a := range p.Command {
			if strings.HasSuffix(a, ".in") || strings.HasSuffix(a, ".txt") {
				files = append(files, a)
			}
		}
		for i, a := range p.Command {
			if (a == "-i" || a == "--index-url") && i+1 < len(p.Command) {
				return p.Command[i+1]
			}
			if v, ok := strings.CutPrefix(a, "--index-url="); ok {
				return v
			}
		}
		for _, f := range files {
			if b, err := readLimited(filepath.Join(p.Dir, f)); err == nil {
				if m := indexLineRe.FindSubmatch(b); m != nil {
					return string(m[1])
				}
			}
		}
	}
	for _, k := range []string{"UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"} {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, k+"="); ok && v != "" {
				return v
			}
		}
	}
	return DefaultIndex
}

var indexLineRe = lazyre.New(`(?m)^\s*(?:-i|--index-url)[= ]\s*(\S+)`)
