// Package web holds the browser side of contactd: the widget, the agent
// desktop and the supervisor and admin pages, as plain HTML, CSS and ES
// modules embedded in the binary. Nothing needs a build step.
package web

import (
	"embed"
	"io/fs"
	"path"
	"strings"
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

// Served is the tree the web server serves: FS without the JavaScript
// self-tests (*.test.mjs and the like), and without listings: a directory
// is served only through its index.html, and one without is not found.
func Served() fs.FS { return served{FS()} }

type served struct{ fsys fs.FS }

func notFound(name string) error { return &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist} }

// IsTestFile says whether name is a test file, never served.
func IsTestFile(name string) bool {
	base := path.Base(name)
	return strings.Contains(base, ".test.") || strings.Contains(base, "_test.")
}

func (s served) Open(name string) (fs.File, error) {
	if IsTestFile(name) {
		return nil, notFound(name)
	}
	f, err := s.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		if _, err := fs.Stat(s.fsys, path.Join(name, "index.html")); err != nil {
			f.Close()
			return nil, notFound(name)
		}
	}
	return f, nil
}
