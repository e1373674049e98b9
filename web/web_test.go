package web

import (
	"io/fs"
	"os/exec"
	"path"
	"regexp"
	"testing"

	"github.com/contactd/contactd/internal/testutil"
)

// The pages are served with a Content-Security-Policy that forbids inline
// scripts, styles and handlers, and user text is only ever set as text:
// check that nothing embedded relies on either.
func TestPagesFollowTheContentSecurityPolicy(t *testing.T) {
	inlineScript := regexp.MustCompile(`(?is)<script\b[^>]*>\s*\S`)
	scriptWithSrc := regexp.MustCompile(`(?is)<script\b[^>]*\bsrc=`)
	handler := regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
	styleAttr := regexp.MustCompile(`(?i)<[^>]+\sstyle\s*=`)
	styleTag := regexp.MustCompile(`(?i)<style\b`)
	unsafeJS := regexp.MustCompile(`\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function\(`)
	n := 0
	err := fs.WalkDir(FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(FS(), p)
		if err != nil {
			return err
		}
		s := string(b)
		switch path.Ext(p) {
		case ".html":
			n++
			for _, m := range inlineScript.FindAllString(s, -1) {
				if !scriptWithSrc.MatchString(m) {
					t.Errorf("%s: an inline script: %.60q", p, m)
				}
			}
			if m := handler.FindString(s); m != "" {
				t.Errorf("%s: an inline event handler: %.80q", p, m)
			}
			if m := styleAttr.FindString(s); m != "" {
				t.Errorf("%s: a style attribute: %.80q", p, m)
			}
			if styleTag.MatchString(s) {
				t.Errorf("%s: a <style> block", p)
			}
		case ".js", ".mjs":
			n++
			if m := unsafeJS.FindString(s); m != "" {
				t.Errorf("%s: %s builds HTML from strings or evaluates code", p, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("only %d pages and scripts found", n)
	}
}

// The shared modules carry self-tests runnable with Node.
func TestSharedModulesPassTheirSelfTests(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if testutil.RequireEnv("REQUIRE_BROWSER") {
			t.Fatal("node is not installed and REQUIRE_BROWSER=1: install nodejs")
		}
		t.Skip("node is not installed: skipping the JavaScript self-tests (set REQUIRE_BROWSER=1 to make this a failure)")
	}
	tests, _ := fs.Glob(FS(), "shared/*.test.mjs")
	if len(tests) == 0 {
		t.Fatal("no self-tests found in shared/")
	}
	for _, p := range tests {
		t.Run(p, func(t *testing.T) {
			out, err := exec.Command(node, path.Join("static", p)).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", p, err, out)
			}
		})
	}
}
