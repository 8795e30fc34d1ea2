package gitrepo

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
)

// readHead finds the repository containing dir and its HEAD by reading the
// .git directory itself: `sluice run` starts faster without two git
// processes. Anything it does not understand (worktrees, a .git file,
// refs it cannot find) returns ok=false, and the caller asks git.
func readHead(dir string) (root string, h Head, ok bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", Head{}, false
	}
	for d := abs; ; d = filepath.Dir(d) {
		fi, err := os.Stat(filepath.Join(d, ".git"))
		if err == nil {
			if !fi.IsDir() {
				return "", Head{}, false // a worktree or submodule: git knows
			}
			root = d
			break
		}
		if filepath.Dir(d) == d {
			return "", Head{}, false
		}
	}
	gitDir := filepath.Join(root, ".git")
	b, err := os.ReadFile(filepath.Join(gitDir, "HEAD"))
	if err != nil {
		return "", Head{}, false
	}
	head := strings.TrimSpace(string(b))
	ref, symbolic := strings.CutPrefix(head, "ref: ")
	if !symbolic {
		if isSHA(head) {
			return root, Head{SHA: head, Ref: head}, true
		}
		return "", Head{}, false
	}
	if sha, ok := readRef(gitDir, ref); ok {
		return root, Head{SHA: sha, Ref: ref}, true
	}
	return "", Head{}, false
}

// readRef reads a full ref name's commit from a .git directory's loose refs or packed-refs;
// ok=false when it is not found there (or is not a plain commit id), and git should be asked.
func readRef(gitDir, ref string) (string, bool) {
	sha, found, _ := lookupRef(gitDir, ref)
	return sha, found
}

// lookupRef reads a full ref name from a .git directory's loose refs and packed-refs, each
// file once: found with its commit id; or absent, when neither holds the name at all (which
// only refsInFiles makes an answer); or neither, when git should be asked.
func lookupRef(gitDir, ref string) (sha string, found, absent bool) {
	if !strings.HasPrefix(ref, "refs/") || strings.Contains(ref, "..") {
		return "", false, false
	}
	loose := filepath.Join(gitDir, filepath.FromSlash(ref))
	b, err := os.ReadFile(loose)
	if err == nil {
		sha := strings.TrimSpace(string(b))
		return sha, isSHA(sha), false
	}
	looseMissing := false
	if os.IsNotExist(err) {
		// A dangling link is still a ref git may read its way.
		_, lerr := os.Lstat(loose)
		looseMissing = os.IsNotExist(lerr)
	}
	packed, err := os.ReadFile(filepath.Join(gitDir, "packed-refs"))
	if err != nil {
		return "", false, looseMissing && os.IsNotExist(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(packed))
	for sc.Scan() {
		sha, name, ok := strings.Cut(sc.Text(), " ")
		if ok && name == ref {
			return sha, isSHA(sha), false
		}
	}
	return "", false, looseMissing && sc.Err() == nil
}

// refsInFiles reports whether a .git directory keeps its refs in files (no reftable) and the
// environment does not move the git directory: then a ref lookupRef finds absent is absent,
// and Resolve need not ask git, which `sluice run` would otherwise do on every push of a
// branch without an upstream.
func refsInFiles(gitDir string) bool {
	for _, v := range []string{"GIT_DIR", "GIT_COMMON_DIR", "GIT_REF_STORAGE"} {
		if os.Getenv(v) != "" {
			return false
		}
	}
	if fi, err := os.Stat(gitDir); err != nil || !fi.IsDir() {
		return false // a worktree or submodule: its refs live elsewhere
	}
	_, err := os.Stat(filepath.Join(gitDir, "reftable"))
	return os.IsNotExist(err)
}

func isSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// readIdentity reads the origin URL and user.name from the repository's
// config and the user's; ok=false when a file uses includes, which only
// git resolves.
func readIdentity(root string) (id Identity, ok bool) {
	id = Identity{Repository: "local/" + filepath.Base(root), Actor: os.Getenv("USER")}
	files := []string{filepath.Join(root, ".git", "config")}
	if home, err := os.UserHomeDir(); err == nil {
		files = append(files, filepath.Join(home, ".gitconfig"))
	}
	xdg := os.Getenv("XDG_CONFIG_HOME")
	if xdg == "" {
		if home, err := os.UserHomeDir(); err == nil {
			xdg = filepath.Join(home, ".config")
		}
	}
	files = append(files, filepath.Join(xdg, "git", "config"))
	if os.Getenv("GIT_CONFIG_GLOBAL") != "" || os.Getenv("GIT_CONFIG_COUNT") != "" || os.Getenv("GIT_AUTHOR_NAME") != "" {
		return id, false
	}
	nameFound := false
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte("[include")) {
			return id, false
		}
		section := ""
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(l, "[") {
				section = strings.ToLower(strings.Trim(l, "[] "))
				continue
			}
			k, v, found := strings.Cut(l, "=")
			if !found {
				continue
			}
			k, v = strings.ToLower(strings.TrimSpace(k)), strings.Trim(strings.TrimSpace(v), `"`)
			switch {
			case i == 0 && section == `remote "origin"` && k == "url":
				id.OriginURL = v
				if n := repoNameFromURL(v); n != "" {
					id.Repository = n
				}
			case section == "user" && k == "name" && !nameFound && v != "":
				id.Actor, nameFound = v, true
			}
		}
	}
	return id, true
}
