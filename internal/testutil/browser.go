package testutil

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Browser returns a headless Chromium to drive with chromedp, closed when
// the test ends. The microphone is faked (for voice tests) and permission
// prompts are accepted. Without Chromium (CHROMIUM_PATH, or chromium /
// chromium-browser / google-chrome on PATH) the test is skipped, or fails
// if REQUIRE_BROWSER=1. Each call gives a new browser with its own
// profile; use chromedp.NewContext on the result for more tabs.
func Browser(t testing.TB) context.Context {
	t.Helper()
	return BrowserWith(t)
}

// BrowserWith is Browser with more Chromium options, e.g.
// chromedp.Flag("use-file-for-fake-audio-capture", "/path/tone.wav") for a
// microphone that plays a file.
func BrowserWith(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := os.Getenv("CHROMIUM_PATH")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if RequireEnv("REQUIRE_BROWSER") {
			t.Fatal("Chromium is not installed and REQUIRE_BROWSER=1: install the chromium package or set CHROMIUM_PATH")
		}
		t.Skip("Chromium is not installed: skipping the browser test (set REQUIRE_BROWSER=1 to make this a failure)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1280, 900),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		if RequireEnv("REQUIRE_BROWSER") {
			t.Fatalf("starting Chromium at %s: %v", path, err)
		}
		t.Skipf("Chromium at %s did not start: %v (set REQUIRE_BROWSER=1 to make this a failure)", path, err)
	}
	return ctx
}
