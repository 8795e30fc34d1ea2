package python

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// uv stamps a local project it builds (an editable or directory install)
// with what it saw of the project's files: uv_cache.json in the
// distribution's .dist-info holds the newest ctime of the project's
// pyproject.toml, setup.py and setup.cfg, and the creation time of its src
// directory (uv's default cache-keys). `uv run` and `uv sync` rebuild the
// project whenever the stamp differs from the files now. A checkout writes
// every file anew, so in a kept environment restored into a new workspace
// the stamp never matches, and every warm `uv run` rebuilds the project
// although its files are the bytes it was built from. ctime cannot be set,
// so the checkout cannot keep it; the stamp is what can be brought up to
// date, and only where sluice has proven the inputs equal.

// uvCacheKeyFiles are the files uv's default cache-keys time.
var uvCacheKeyFiles = []string{"pyproject.toml", "setup.py", "setup.cfg"}

// RestampUVBuilds brings uv's build stamps up to date in the environments
// envs of a restored kept environment, for each local project under
// workspace whose stamp uv computes from its default cache-keys and whose
// pyproject.toml, setup.py and setup.cfg (bytes) and file names or tree
// keyed says are those the kept environment was built from: keyed are the
// inputs (StepInputs.Values) of the restored steps. Anything else (custom
// cache-keys, git or environment keys, a project no step keyed, a file
// changed since it was keyed, a stamp of a shape sluice does not know) is
// left alone, so uv rebuilds it as on a fresh machine. It returns the
// workspace-relative directories of the projects restamped.
func RestampUVBuilds(envs []string, workspace string, keyed []map[string]string) ([]string, error) {
	var done []string
	for _, env := range envs {
		real, err := filepath.EvalSymlinks(env)
		if err != nil {
			continue
		}
		stamps, _ := filepath.Glob(filepath.Join(env, "lib", "*", "site-packages", "*.dist-info", "uv_cache.json"))
		for _, stamp := range stamps {
			// The environment is the job's to shape: a link out of it
			// (lib -> elsewhere) must not make sluice write there.
			if d, err := filepath.EvalSymlinks(filepath.Dir(stamp)); err != nil || !strings.HasPrefix(d, real+string(filepath.Separator)) {
				continue
			}
			rel, ok, err := restampUV(stamp, workspace, keyed)
			if err != nil {
				return done, fmt.Errorf("refreshing uv's build stamp %s: %w", stamp, err)
			}
			if ok {
				done = append(done, rel)
			}
		}
	}
	return done, nil
}

// restampUV rewrites one uv_cache.json when that is provably what uv
// would write for the project now.
func restampUV(stamp, workspace string, keyed []map[string]string) (string, bool, error) {
	distInfo := filepath.Dir(stamp)
	dir, ok := directURLDir(filepath.Join(distInfo, "direct_url.json"))
	if !ok {
		return "", false, nil
	}
	rel, err := filepath.Rel(workspace, dir)
	if err != nil || (!filepath.IsLocal(rel) && rel != ".") {
		return "", false, nil
	}
	rel = filepath.ToSlash(rel)
	if !keyedUnchanged(dir, rel, keyed) {
		return "", false, nil
	}
	if pp, err := readTOML(filepath.Join(dir, "pyproject.toml")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	} else if dig(pp, "tool", "uv", "cache-keys") != nil {
		return "", false, nil // the project says what to time: uv decides
	}
	old, err := os.ReadFile(stamp)
	if err != nil {
		return "", false, err
	}
	now, ok := uvStampNow(old, dir)
	if !ok || bytes.Equal(now, old) {
		return "", false, nil
	}
	if err := replaceFile(stamp, now); err != nil {
		return "", false, err
	}
	if err := fixRecord(distInfo, "uv_cache.json", now); err != nil {
		return "", false, err
	}
	return rel, true, nil
}

// directURLDir is the local directory a distribution was installed from
// (PEP 610 direct_url.json with dir_info), if any.
func directURLDir(p string) (string, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", false
	}
	var du struct {
		URL     string          `json:"url"`
		DirInfo json.RawMessage `json:"dir_info"`
	}
	if json.Unmarshal(b, &du) != nil || du.DirInfo == nil {
		return "", false
	}
	u, err := url.Parse(du.URL)
	if err != nil || u.Scheme != "file" || (u.Host != "" && u.Host != "localhost") || !filepath.IsAbs(u.Path) {
		return "", false
	}
	return filepath.Clean(u.Path), true
}

// keyedUnchanged says whether a restored step keyed the project at rel
// (its file names or whole tree, and the bytes of uv's cache-key files)
// and those files still hold the keyed bytes.
func keyedUnchanged(dir, rel string, keyed []map[string]string) bool {
	for _, v := range keyed {
		if v["names "+rel] == "" && v["tree "+rel] == "" {
			continue
		}
		same := true
		for _, f := range uvCacheKeyFiles {
			want, ok := v["file "+path.Join(rel, f)]
			if !ok {
				same = false
				break
			}
			got, err := fileDigest(filepath.Join(dir, f))
			if err != nil || got != want {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}

// uvStampNow is the stamp uv computes for dir now, in the shape of old
// (the fields the uv that wrote it knows), or false when old holds
// anything but default cache-keys' timestamps.
func uvStampNow(old []byte, dir string) ([]byte, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(old, &fields) != nil {
		return nil, false
	}
	for k, v := range fields {
		switch k {
		case "timestamp":
		case "commit", "tags":
			if string(v) != "null" {
				return nil, false
			}
		case "env":
			if strings.TrimSpace(string(v)) != "{}" {
				return nil, false
			}
		case "directories":
			var dirs map[string]json.RawMessage
			if json.Unmarshal(v, &dirs) != nil {
				return nil, false
			}
			for d := range dirs {
				if d != "src" {
					return nil, false
				}
			}
		default:
			return nil, false
		}
	}
	if _, ok := fields["timestamp"]; !ok {
		return nil, false
	}
	var newest *unix.Timespec
	for _, f := range uvCacheKeyFiles {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(dir, f), &st); err != nil {
			if errors.Is(err, syscall.ENOENT) {
				continue
			}
			return nil, false
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil, false // uv warns and skips it; not a shape to guess at
		}
		if c := st.Ctim; newest == nil || c.Sec > newest.Sec || (c.Sec == newest.Sec && c.Nsec > newest.Nsec) {
			newest = &c
		}
	}
	var b strings.Builder
	b.WriteString(`{"timestamp":`)
	if newest == nil {
		b.WriteString("null")
	} else {
		fmt.Fprintf(&b, `{"secs_since_epoch":%d,"nanos_since_epoch":%d}`, newest.Sec, newest.Nsec)
	}
	for _, k := range []string{"commit", "tags"} {
		if _, ok := fields[k]; ok {
			fmt.Fprintf(&b, `,%q:null`, k)
		}
	}
	if _, ok := fields["env"]; ok {
		b.WriteString(`,"env":{}`)
	}
	if _, ok := fields["directories"]; ok {
		b.WriteString(`,"directories":{`)
		src := filepath.Join(dir, "src")
		var stx unix.Statx_t
		err := unix.Statx(unix.AT_FDCWD, src, 0, unix.STATX_BTIME|unix.STATX_TYPE|unix.STATX_INO, &stx)
		switch {
		case errors.Is(err, syscall.ENOENT):
			b.WriteString(`"src":null`)
		case err != nil:
			return nil, false
		case stx.Mode&unix.S_IFMT != unix.S_IFDIR:
			// uv warns and leaves the key out.
		case stx.Mask&unix.STATX_BTIME != 0:
			fmt.Fprintf(&b, `"src":{"secs_since_epoch":%d,"nanos_since_epoch":%d}`, stx.Btime.Sec, stx.Btime.Nsec)
		default:
			fmt.Fprintf(&b, `"src":%d`, stx.Ino)
		}
		b.WriteString("}")
	}
	b.WriteString("}")
	return []byte(b.String()), true
}

// replaceFile writes data to p through a new file renamed over it: the
// old file may be a hard link shared with a kept original.
func replaceFile(p string, data []byte) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", p)
	}
	tmp := p + ".sluice-new"
	if err := os.WriteFile(tmp, data, fi.Mode().Perm()); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// fixRecord updates the RECORD line of a file of the .dist-info that
// changed, so the distribution's own manifest stays true.
func fixRecord(distInfo, name string, data []byte) error {
	recPath := filepath.Join(distInfo, "RECORD")
	rec, err := os.ReadFile(recPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	prefix := filepath.Base(distInfo) + "/" + name + ","
	sum := sha256.Sum256(data)
	line := fmt.Sprintf("%ssha256=%s,%d", prefix, base64.RawURLEncoding.EncodeToString(sum[:]), len(data))
	lines := strings.SplitAfter(string(rec), "\n")
	changed := false
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			eol := l[len(strings.TrimRight(l, "\r\n")):]
			lines[i] = line + eol
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return replaceFile(recPath, []byte(strings.Join(lines, "")))
}
