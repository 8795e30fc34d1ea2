package python

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// DefaultIndex is where pip and uv look when nothing says otherwise.
const DefaultIndex = "https://pypi.org/simple/"

// IndexSpec is where an installer finds distributions: the simple API
// indexes it reads (primary first), find-links locations, or none at all.
// Unknown, when set, says why sluice cannot tell (a configuration it does
// not read), so what the index decided cannot be checked.
type IndexSpec struct {
	URLs      []string `json:"urls,omitempty"`
	FindLinks []string `json:"find_links,omitempty"`
	NoIndex   bool     `json:"no_index,omitempty"`
	Unknown   string   `json:"unknown,omitempty"`
}

// maxPage bounds one simple-API page: the largest projects' pages are a
// few MiB.
const maxPage = 64 << 20

// File is one distribution file an index lists for a project.
type File struct {
	Name           string `json:"name"`
	URL            string `json:"url"`
	SHA256         string `json:"sha256,omitempty"`
	RequiresPython string `json:"requires_python,omitempty"`
	Yanked         bool   `json:"yanked,omitempty"`
}

// ProjectFiles lists what the index spec offers for project: every file
// of every index and find-links location, in a stable order.
func ProjectFiles(ctx context.Context, client *http.Client, spec IndexSpec, project string) ([]File, error) {
	if spec.Unknown != "" {
		return nil, errors.New(spec.Unknown)
	}
	var all []File
	if !spec.NoIndex {
		urls := spec.URLs
		if len(urls) == 0 {
			urls = []string{DefaultIndex}
		}
		for _, u := range urls {
			fs, err := simplePage(ctx, client, u, project)
			if err != nil {
				return nil, err
			}
			all = append(all, fs...)
		}
	}
	for _, fl := range spec.FindLinks {
		fs, err := findLinks(ctx, client, fl, project)
		if err != nil {
			return nil, err
		}
		all = append(all, fs...)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Name != all[j].Name {
			return all[i].Name < all[j].Name
		}
		return all[i].URL < all[j].URL
	})
	return all, nil
}

// FilesDigest summarises what an installer can choose from: file names,
// their yanked state and Python requirement. A new release, a new file or
// a yank changes it; a mirror serving the same files from elsewhere does not.
func FilesDigest(files []File) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%t\x00%s\x00%s\n", f.Name, f.Yanked, f.RequiresPython, f.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Redact drops the credentials from an index URL, for logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User("***")
	return u.String()
}

func simplePage(ctx context.Context, client *http.Client, index, project string) ([]File, error) {
	base := strings.TrimRight(index, "/") + "/" + normName(project) + "/"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base, nil)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", Redact(index), err)
	}
	req.Header.Set("Accept", "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", project, Redact(index), errors.Unwrap(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil // the index does not know the project: no files
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading %s from %s: %s", project, Redact(index), resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPage+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", project, Redact(index), err)
	}
	if len(body) > maxPage {
		return nil, fmt.Errorf("reading %s from %s: page over %d MiB", project, Redact(index), maxPage>>20)
	}
	pageURL := resp.Request.URL
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return parseSimpleJSON(body, pageURL)
	}
	return parseSimpleHTML(body, pageURL), nil
}

func parseSimpleJSON(body []byte, page *url.URL) ([]File, error) {
	var doc struct {
		Files []struct {
			Filename       string            `json:"filename"`
			URL            string            `json:"url"`
			Hashes         map[string]string `json:"hashes"`
			RequiresPython *string           `json:"requires-python"`
			Yanked         any               `json:"yanked"`
		} `json:"files"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("reading the simple API page %s: %w", Redact(page.String()), err)
	}
	out := make([]File, 0, len(doc.Files))
	for _, f := range doc.Files {
		file := File{Name: f.Filename, SHA256: f.Hashes["sha256"], URL: resolve(page, f.URL)}
		if f.RequiresPython != nil {
			file.RequiresPython = *f.RequiresPython
		}
		switch y := f.Yanked.(type) {
		case bool:
			file.Yanked = y
		case string:
			file.Yanked = true
		}
		out = append(out, file)
	}
	return out, nil
}

var (
	anchorRe = lazyre.New(`(?is)<a\s([^>]*)>(.*?)</a>`)
	attrRe   = lazyre.New(`(?is)([a-z-]+)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)`)
)

// parseSimpleHTML reads PEP 503 anchors: the text is the file name, the
// href its URL (with #sha256=), data-requires-python and data-yanked.
func parseSimpleHTML(body []byte, page *url.URL) []File {
	var out []File
	for _, m := range anchorRe.FindAllSubmatch(body, -1) {
		attrs := map[string]string{}
		present := map[string]bool{}
		for _, a := range attrRe.FindAllSubmatch(m[1], -1) {
			k := strings.ToLower(string(a[1]))
			v := strings.Trim(string(a[2]), `"'`)
			attrs[k] = html.UnescapeString(v)
			present[k] = true
		}
		href := attrs["href"]
		if href == "" {
			continue
		}
		name := strings.TrimSpace(html.UnescapeString(string(m[2])))
		f := File{Name: name, URL: resolve(page, href), RequiresPython: attrs["data-requires-python"], Yanked: present["data-yanked"]}
		if u, err := url.Parse(href); err == nil {
			if v, ok := strings.CutPrefix(u.Fragment, "sha256="); ok {
				f.SHA256 = v
			}
			if f.Name == "" {
				f.Name = filepath.Base(u.Path)
			}
		}
		out = append(out, f)
	}
	return out
}

func resolve(page *url.URL, href string) string {
	u, err := url.Parse(href)
	if err != nil {
		return href
	}
	return page.ResolveReference(u).String()
}

// findLinks reads a find-links location: a local directory's files, or a
// page of links, keeping those whose name belongs to project.
func findLinks(ctx context.Context, client *http.Client, loc, project string) ([]File, error) {
	var files []File
	if dir, ok := localDir(loc); ok {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading find-links %s: %w", dir, err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				info, _ := e.Info()
				f := File{Name: e.Name(), URL: "file://" + filepath.Join(dir, e.Name())}
				if info != nil {
					f.SHA256 = fmt.Sprintf("size:%d", info.Size())
				}
				files = append(files, f)
			}
		}
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc, nil)
		if err != nil {
			return nil, fmt.Errorf("find-links %s: %w", Redact(loc), err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("reading find-links %s: %w", Redact(loc), errors.Unwrap(err))
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("reading find-links %s: %s", Redact(loc), resp.Status)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxPage))
		if err != nil {
			return nil, fmt.Errorf("reading find-links %s: %w", Redact(loc), err)
		}
		files = parseSimpleHTML(body, resp.Request.URL)
	}
	want := normName(project)
	var out []File
	for _, f := range files {
		if distName(f.Name) == want {
			out = append(out, f)
		}
	}
	return out, nil
}

func localDir(loc string) (string, bool) {
	if p, ok := strings.CutPrefix(loc, "file://"); ok {
		return p, true
	}
	if strings.Contains(loc, "://") {
		return "", false
	}
	return loc, true
}

// distName is the normalised project name of a wheel or sdist file name.
func distName(file string) string {
	base := file
	for _, ext := range []string{".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".egg"} {
		if b, ok := strings.CutSuffix(base, ext); ok {
			base = b
			break
		}
	}
	if strings.HasSuffix(file, ".whl") {
		n, _, _ := strings.Cut(base, "-")
		return normName(n)
	}
	// An sdist is NAME-VERSION: the version starts at the last dash
	// followed by a digit.
	for i := len(base) - 1; i > 0; i-- {
		if base[i-1] == '-' && base[i] >= '0' && base[i] <= '9' {
			return normName(base[:i-1])
		}
	}
	return normName(base)
}
