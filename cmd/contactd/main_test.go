package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as contactd when CONTACTD_TEST_MAIN is set, so
// these tests run the real main with real signals.
func TestMain(m *testing.M) {
	if os.Getenv("CONTACTD_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func contactd(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	// Voice and SIP on ports of their own: tests run side by side.
	cmd.Env = append(os.Environ(), "CONTACTD_TEST_MAIN=1", "CONTACTD_MEDIA_ADDR=127.0.0.1:0",
		"CONTACTD_SIP_LISTEN=udp://127.0.0.1:0,tcp://127.0.0.1:0")
	return cmd
}

func TestHelpDocumentsEverySetting(t *testing.T) {
	out, err := contactd(t, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	for _, want := range []string{"--http-addr", "CONTACTD_HTTP_ADDR", "--data-dir", "CONTACTD_DATA_DIR", "--database-url", "DATABASE_URL", "--config", "--drain-timeout"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Fatalf("--help does not mention %s:\n%s", want, out)
		}
	}
}

func TestAConfigErrorNamesTheKeyAndFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("http_adr: \":9\"\n"), 0o600)
	cmd := contactd(t, "--config", path, "--data-dir", t.TempDir())
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("want exit status 1, got %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("http_adr")) {
		t.Fatalf("the error does not name the key:\n%s", out)
	}
}

func TestASIPPortInUseStopsTheStartNamingTheSetting(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cmd := contactd(t, "--http-addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--sip-listen", "udp://"+pc.LocalAddr().String())
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("want exit status 1, got %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("sip_listen udp://"+pc.LocalAddr().String())) {
		t.Fatalf("the error does not name sip_listen:\n%s", out)
	}
}

func TestSIGTERMDrainsAndExitsCleanly(t *testing.T) {
	cmd := contactd(t, "--http-addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	sc := bufio.NewScanner(stdout)
	var base string
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "contactd is ready on "); ok {
			base = rest
			break
		}
	}
	if base == "" {
		t.Fatalf("no ready line; stderr:\n%s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	resp, err := http.Get(base + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30 s after SIGTERM\n%s", stderr.String())
	}
	for _, want := range []string{"shutdown requested", "drained", "contactd stopped"} {
		if !strings.Contains(stderr.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, stderr.String())
		}
	}
}
