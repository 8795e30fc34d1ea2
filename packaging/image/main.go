// Command image builds the OCI image of the sluice server with sluice's own daemonless builder
// (internal/oci): the server base (git, ca-certificates, a "sluice" user; see
// scripts/build-images.sh) plus one layer holding a static sluice binary and the image's
// settings. `make image` runs it; load the result with `podman pull oci:DIR`.
//
//	go run ./packaging/image -base server-base.tar -binary bin/sluice-static -out bin/sluice-image
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluice-ci/sluice/internal/oci"
)

func main() {
	base := flag.String("base", "", "base image: an OCI layout, an OCI or docker archive (podman save), or a registry reference")
	binary := flag.String("binary", "", "the sluice binary, built static (CGO_ENABLED=0)")
	config := flag.String("config", "packaging/image/sluice.toml", "settings the image starts with")
	out := flag.String("out", "bin/sluice-image", "OCI image layout directory to write")
	version := flag.String("version", "dev", "version label")
	epoch := flag.Int64("source-date-epoch", 0, "timestamp of every file and of the image (same inputs, same digest)")
	flag.Parse()
	if *base == "" || *binary == "" {
		fmt.Fprintln(os.Stderr, "image: -base and -binary are required\n\nexample: go run ./packaging/image -base server-base.tar -binary bin/sluice-static")
		os.Exit(2)
	}
	res, err := oci.BuildFiles(context.Background(), Spec(*base, *binary, *config, *out, *version, *epoch))
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	abs, _ := filepath.Abs(res.Path)
	fmt.Printf("%s\n%s\n", res.Digest, abs)
}

// Spec is the server image: where each file goes and how it starts.
func Spec(base, binary, config, out, version string, epoch int64) oci.FilesSpec {
	return oci.FilesSpec{
		Base: base,
		Files: map[string]oci.File{
			"/usr/local/bin/sluice":   {Src: binary, Mode: 0o755},
			"/etc/sluice/sluice.toml": {Src: config, Mode: 0o644},
		},
		// The sluice user of the base (uid 10001) owns its state directory.
		Dirs:       map[string]oci.Dir{"/var/lib/sluice": {UID: 10001, GID: 10001, Mode: 0o700}},
		Entrypoint: []string{"/usr/local/bin/sluice", "serve", "--config", "/etc/sluice/sluice.toml"},
		Env: map[string]string{
			"SLUICE_STATE_DIR": "/var/lib/sluice",
			"HOME":             "/var/lib/sluice",
		},
		WorkDir:      "/var/lib/sluice",
		User:         "sluice",
		ExposedPorts: []string{"8080/tcp"},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "sluice server",
			"org.opencontainers.image.version": version,
		},
		SourceDateEpoch: epoch,
		OutDir:          out,
	}
}
