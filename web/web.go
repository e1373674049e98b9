// Package web holds the browser side of contactd: the widget, the agent
// desktop and the supervisor and admin pages, as plain HTML, CSS and ES
// modules embedded in the binary. Nothing needs a build step.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// FS is the tree served at the site root.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
