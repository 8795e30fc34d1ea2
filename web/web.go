// Package web holds the server UI's html/template pages and static assets
// (CSS and vanilla JavaScript, no build step), embedded in the binary.
package web

import (
	"embed"
	"io/fs"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Templates holds the page templates (layout.html plus one file per page) at
// its root.
var Templates fs.FS = mustSub(templateFiles, "templates")

// Static holds the assets served under /static/ at its root.
var Static fs.FS = mustSub(staticFiles, "static")

// mustSub panics only if the embed directives above and the names here
// disagree, which the package's tests would show at once.
func mustSub(f embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
