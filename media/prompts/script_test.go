package prompts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The committed prompts are what scripts/make-prompts.sh makes, byte for
// byte, with the tools they were made with (Debian bookworm's espeak-ng
// 1.51 and sox 14.4.2); elsewhere the test says why it does not run.
func TestTheScriptMakesTheCommittedPrompts(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not running espeak-ng 52 times")
	}
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: cannot check that scripts/make-prompts.sh makes the committed prompts", tool)
		}
	}
	v, _ := exec.Command("espeak-ng", "--version").Output()
	s, _ := exec.Command("sox", "--version").Output()
	if !strings.Contains(string(v), "1.51") || !strings.Contains(string(s), "14.4.2") {
		t.Skipf("espeak-ng %q / sox %q are not the versions the prompts were made with", strings.TrimSpace(string(v)), strings.TrimSpace(string(s)))
	}
	out := t.TempDir()
	cmd := exec.Command("sh", "../../scripts/make-prompts.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make-prompts.sh: %v\n%s", err, b)
	}
	made, _ := filepath.Glob(filepath.Join(out, "*"))
	committed, _ := filepath.Glob("default/*.wav")
	if len(made) != len(committed)+1 { // + TEXT.tsv
		t.Fatalf("the script made %d files, %d prompts are committed", len(made), len(committed))
	}
	for _, f := range append(committed, "default/TEXT.tsv") {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join(out, filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: the script made something else (%v); run scripts/make-prompts.sh and commit", f, err)
		}
	}
}
