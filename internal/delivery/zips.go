package delivery

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/sluice-ci/sluice/internal/artifacts"
)

// runZip is one artifact zip of a run, opened for reading.
type runZip struct {
	name string // the artifact's name
	zr   *zip.Reader
	c    io.Closer
	err  error // why the zip could not be read; zr is nil then
}

// openRunZips opens every artifact zip run uploaded, in upload order. A zip that cannot be opened
// or read is returned with its error rather than failing the whole call, so a caller checking a
// release can say which files it affects. The caller must call closeZips.
func openRunZips(ctx context.Context, arts *artifacts.Store, run int64) ([]runZip, error) {
	runKey := strconv.FormatInt(run, 10)
	list, err := arts.List(runKey)
	if err != nil {
		return nil, fmt.Errorf("listing the artifacts of run %d: %w", run, err)
	}
	var out []runZip
	for _, a := range list {
		if err := ctx.Err(); err != nil {
			closeZips(out)
			return nil, err
		}
		rz := runZip{name: a.Name}
		rz.zr, rz.c, rz.err = openZip(arts, runKey, a.ID)
		out = append(out, rz)
	}
	return out, nil
}

func openZip(arts *artifacts.Store, run string, id int64) (*zip.Reader, io.Closer, error) {
	rc, err := arts.Open(run, id)
	if err != nil {
		return nil, nil, err
	}
	// The store hands out the blob file itself; anything else is read into memory.
	if f, ok := rc.(*os.File); ok {
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("reading artifact %d: %w", id, err)
		}
		zr, err := zip.NewReader(f, st.Size())
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("reading the zip of artifact %d: %w", id, err)
		}
		return zr, f, nil
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("reading artifact %d: %w", id, err)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the zip of artifact %d: %w", id, err)
	}
	return zr, nil, nil
}

func closeZips(zs []runZip) {
	for _, z := range zs {
		if z.c != nil {
			z.c.Close()
		}
	}
}

// files maps "<artifact name>/<path in zip>" to the zip's regular files. A later upload of the same
// name (an overwrite) wins.
func files(zs []runZip) map[string]*zip.File {
	out := map[string]*zip.File{}
	for _, z := range zs {
		if z.zr == nil {
			continue
		}
		for _, zf := range z.zr.File {
			if !zf.Mode().IsRegular() {
				continue
			}
			out[z.name+"/"+zf.Name] = zf
		}
	}
	return out
}
