package python

import "path/filepath"

// ManagedDirs are where pyenv (its root) and uv (its managed Python
// installs) keep interpreters for a user with home directory home, as getenv
// says (PYENV_ROOT, UV_PYTHON_INSTALL_DIR, XDG_DATA_HOME); "" when unknown.
// Discover looks there, and a job's sandbox mounts them read-only.
func ManagedDirs(home string, getenv func(string) string) (pyenvRoot, uvDir string) {
	pyenvRoot = getenv("PYENV_ROOT")
	if pyenvRoot == "" && home != "" {
		pyenvRoot = filepath.Join(home, ".pyenv")
	}
	uvDir = getenv("UV_PYTHON_INSTALL_DIR")
	if uvDir == "" {
		data := getenv("XDG_DATA_HOME")
		if data == "" && home != "" {
			data = filepath.Join(home, ".local", "share")
		}
		if data != "" {
			uvDir = filepath.Join(data, "uv", "python")
		}
	}
	return pyenvRoot, uvDir
}
