// Package oci builds daemonless, reproducible OCI images for Python
// applications and moves them between registries without re-uploading
// layers a registry already has.
//
// An image is the base image plus two layers: the dependencies installed from
// a pinned lockfile (cached by base digest and lockfile hash, so a new release
// with the same lock reuses it) and the application wheel. Both are installed
// with pip --target under /opt/sluice/{deps,app}, found through PYTHONPATH and
// PATH set in the image config.
//
// The host Python that runs pip must have the same minor version as the
// base image's interpreter (Build checks this when the base shows it): pip
// picks wheels by the running interpreter's tags, and anything compiled is
// built for it. The host must also be the base's platform for binary wheels.
//
// Reproducibility: entries are sorted, owned by root, modes normalised,
// stamped SourceDateEpoch, gzipped with Go's compress/gzip (stable for a given
// Go release), bytecode is not compiled and host paths are stripped, so the
// same inputs give the same manifest digest.
package oci

// Where the two layers put their trees inside the image.
const (
	depsRoot = "opt/sluice/deps"
	appRoot  = "opt/sluice/app"
)

// BuildSpec says what to build.
type BuildSpec struct {
	Base         string // a local OCI layout dir, OCI archive or docker archive (e.g. `podman save`), or a registry ref
	BaseInsecure bool   // plain-HTTP registry (tests on 127.0.0.1)
	Python       string // path of the interpreter inside the image, default /usr/bin/python3
	HostPython   string // interpreter that runs pip; default pythonX.Y matching the base, else python3
	Lockfile     string // requirements lock (pip-compile style, pinned) whose hash keys the deps layer
	WheelDir     string // pre-downloaded wheels for the lock (pip download -r lock -d DIR), installed offline
	AppWheel     string // the release's wheel, installed without dependencies
	Entrypoint   []string
	Cmd          []string
	Env          map[string]string
	WorkDir      string
	// SourceDateEpoch stamps every file, history entry and the config's
	// created time (0 means 1970-01-01): same inputs → same digest.
	SourceDateEpoch int64
	// CacheDir keeps built dependency layers keyed by (base digest, lockfile
	// hash, image Python); default <user cache dir>/sluice/oci.
	CacheDir string
	// OutDir is the OCI image layout directory to write (replaced if it
	// exists); default CacheDir/images/<manifest hex>.
	OutDir string
}

// Result describes a built image.
type Result struct {
	Digest          string   // manifest digest
	ConfigDigest    string   // config blob digest
	Layers          []string // all layer digests, base first
	DepsLayer       string   // digest of the dependencies layer
	AppLayer        string   // digest of the application layer
	DepsLayerCached bool     // the dependencies layer came from CacheDir
	BaseDigest      string   // manifest digest of the base image
	LockHash        string   // sha256:<hex> of the lockfile
	Path            string   // OCI image layout directory holding the image
}
