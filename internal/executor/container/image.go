package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
)

// EnsureImage makes ref present locally, pulling it (with cred) when it is
// not. log receives progress lines; nil discards them.
func (e *Engine) EnsureImage(ctx context.Context, ref string, cred *Credentials, log func(string)) error {
	if ok, err := e.imageExists(ctx, ref); err != nil || ok {
		return err
	}
	if log != nil {
		log("Pulling image " + ref)
	}
	var opts client.ImagePullOptions
	if cred != nil {
		auth, err := authconfig.Encode(registry.AuthConfig{Username: cred.Username, Password: cred.Password, ServerAddress: registryOf(ref)})
		if err != nil {
			return fmt.Errorf("encoding credentials for %s: %w", ref, err)
		}
		opts.RegistryAuth = auth
	}
	err := e.pull(ctx, ref, opts, log)
	if err == nil {
		if ok, ierr := e.imageExists(ctx, ref); ierr != nil || ok {
			return ierr
		}
		err = errors.New("the engine reported success but the image is not present")
	}
	if ctx.Err() != nil {
		return fmt.Errorf("pulling image %s: %w", ref, ctx.Err())
	}
	return fmt.Errorf("image %s is not present locally and pulling it failed (is a container registry reachable from here?): %w\n"+
		"Build or import it locally instead: scripts/build-images.sh builds localhost/sluice/debian:12, "+
		"localhost/sluice/python:3.11, localhost/sluice/redis:7 and localhost/sluice/postgres:15; "+
		"`podman import ROOTFS.tar NAME` or `podman build -t NAME DIR` make others", ref, err)
}

func (e *Engine) pull(ctx context.Context, ref string, opts client.ImagePullOptions, log func(string)) error {
	resp, err := e.cli.ImagePull(ctx, ref, opts)
	if err != nil {
		return err
	}
	defer resp.Close()
	return readJSONStream(resp, log)
}

func (e *Engine) imageExists(ctx context.Context, ref string) (bool, error) {
	_, err := e.cli.ImageInspect(ctx, ref)
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("inspecting image %s: %w", ref, err)
}

// readJSONStream reads pull/build progress messages, logging them, and
// returns the first error message the engine sent.
func readJSONStream(r io.Reader, log func(string)) error {
	dec := json.NewDecoder(r)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading engine progress: %w", err)
		}
		if m.Error != nil {
			return errors.New(m.Error.Message)
		}
		if log == nil {
			continue
		}
		for _, l := range strings.Split(strings.TrimRight(m.Stream, "\n"), "\n") {
			if strings.TrimSpace(l) != "" {
				log(l)
			}
		}
		if m.Status != "" && m.Progress == nil {
			log(strings.TrimSpace(m.ID + " " + m.Status))
		}
	}
}

// registryOf is the registry host of an image reference ("docker.io" when
// the reference names none).
func registryOf(ref string) string {
	first, _, found := strings.Cut(ref, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return "docker.io"
}
