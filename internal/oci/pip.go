package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// pipInstall installs into target with python's pip, offline. args name what
// to install (-r LOCK, or a wheel path). Bytecode is not compiled: .pyc files
// embed source mtimes and would make layers differ between builds.
func pipInstall(ctx context.Context, python, imgPython, target string, epoch int64, args ...string) error {
	cmdArgs := []string{"-m", "pip", "install",
		"--no-index", "--only-binary=:all:", "--no-compile", "--no-cache-dir",
		"--disable-pip-version-check", "--no-warn-script-location", "--no-input",
		"--root-user-action=ignore", "--target", target}
	cmdArgs = append(cmdArgs, args...)
	cmd := exec.CommandContext(ctx, python, cmdArgs...)
	cmd.Env = append(cleanEnv(),
		"PIP_CONFIG_FILE="+os.DevNull,
		"PYTHONDONTWRITEBYTECODE=1",
		"SOURCE_DATE_EPOCH="+strconv.FormatInt(epoch, 10),
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pip install %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return fixInstall(target, imgPython)
}

// cleanEnv drops PIP_* variables: like a pip.conf they can add find-links
// or indexes and so change what a pinned lock resolves to on this host.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PIP_") {
			env = append(env, kv)
		}
	}
	return env
}

// fixInstall removes what pip writes that depends on the build host:
// direct_url.json (the wheel's absolute path), __pycache__, and the host
// interpreter's path in console-script shebangs, which becomes imgPython.
func fixInstall(target, imgPython string) error {
	changed := map[string][2]string{} // file name under bin/ → new hash, size
	binDir := filepath.Join(target, "bin")
	entries, err := os.ReadDir(binDir)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("reading %s: %w", binDir, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(binDir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		first, rest, _ := bytes.Cut(b, []byte("\n"))
		if !bytes.HasPrefix(first, []byte("#!")) || !bytes.Contains(first, []byte("python")) {
			continue
		}
		nb := append([]byte("#!"+imgPython+"\n"), rest...)
		if err := os.WriteFile(p, nb, 0o755); err != nil {
			return fmt.Errorf("rewriting %s: %w", p, err)
		}
		sum := sha256.Sum256(nb)
		changed[e.Name()] = [2]string{"sha256=" + base64.RawURLEncoding.EncodeToString(sum[:]), strconv.Itoa(len(nb))}
	}
	records, err := filepath.Glob(filepath.Join(target, "*.dist-info"))
	if err != nil {
		return err
	}
	for _, di := range records {
		if err := os.Remove(filepath.Join(di, "direct_url.json")); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("removing direct_url.json: %w", err)
		}
		if err := rewriteRecord(filepath.Join(di, "RECORD"), changed); err != nil {
			return err
		}
	}
	return filepath.WalkDir(target, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "__pycache__" {
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("removing %s: %w", p, err)
			}
			return filepath.SkipDir
		}
		return nil
	})
}

// rewriteRecord keeps RECORD truthful after fixInstall: rows for rewritten
// scripts get their new hash and size, direct_url.json's row goes.
func rewriteRecord(path string, changed map[string][2]string) error {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return fmt.Errorf("parsing %s: %w", path, err)
	}
	var out [][]string
	dirty := false
	for _, r := range rows {
		if len(r) == 0 {
			continue
		}
		name := filepath.ToSlash(r[0])
		if strings.HasSuffix(name, ".dist-info/direct_url.json") {
			dirty = true
			continue
		}
		if dir, file := filepath.Split(name); strings.HasSuffix(strings.TrimSuffix(dir, "/"), "bin") && len(r) == 3 {
			if c, ok := changed[file]; ok {
				r = []string{r[0], c[0], c[1]}
				dirty = true
			}
		}
		out = append(out, r)
	}
	if !dirty {
		return nil
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.WriteAll(out); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
