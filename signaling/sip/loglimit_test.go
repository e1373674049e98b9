package sip

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestSafeLogHandlerSanitizesAndLimits(t *testing.T) {
	clock := newClock()
	var buf bytes.Buffer
	drops := NewDrops(nil)
	log := slog.New(NewSafeLogHandler(slog.NewTextHandler(&buf, nil), drops, clock.Now))
	wire := "INVITE sip:x SIP/2.0\r\nVia: forged\nlevel=ERROR msg=\"fake\"" + strings.Repeat("A", 1000)
	for range 20 {
		log.Error("failed to parse", "data", wire, "error", errors.New("bad\r\nthing"))
	}
	out := buf.String()
	if n := strings.Count(out, "\n"); n != logBurst {
		t.Fatalf("%d lines logged, want the burst of %d:\n%s", n, logBurst, out)
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if len(line) > 2*MaxLogValue+200 {
			t.Fatalf("line of %d bytes", len(line))
		}
		if !strings.Contains(line, `\r\n`) || strings.Contains(line, "\r") {
			t.Fatalf("CR/LF not escaped: %q", line)
		}
	}
	if drops.Count(DropUnparseable) != 20 {
		t.Fatalf("unparseable counted %d, want 20 (even when not logged)", drops.Count(DropUnparseable))
	}
	// After a while one more goes out with the count of the suppressed.
	clock.Advance(logEvery)
	buf.Reset()
	log.Error("failed to parse", "data", "x")
	if !strings.Contains(buf.String(), "suppressed=15") {
		t.Fatalf("no suppressed count: %q", buf.String())
	}
	// Other messages have their own budget; attributes given With are
	// sanitized too.
	buf.Reset()
	log.With("raddr", "1.2.3.4\r\nx").Warn("other")
	if !strings.Contains(buf.String(), `1.2.3.4\r\nx`) {
		t.Fatalf("With attr: %q", buf.String())
	}
	// Info is sanitized, never limited (a call's own events).
	buf.Reset()
	for range 20 {
		log.Info("phone call ended", "callID", "a\nb")
	}
	if n := strings.Count(buf.String(), "\n"); n != 20 || strings.Contains(buf.String(), "a\nb") {
		t.Fatalf("info lines %d: %q", n, buf.String())
	}
}

func TestSanitizeLog(t *testing.T) {
	for in, want := range map[string]string{
		"a\r\nb":   `a\r\nb`,
		"\x00\x7f": `\x00\x7f`,
		"é\xff":    `é\xff`,
		"\u2028":   `\xe2`,
	} {
		if got := SanitizeLog(in); !strings.HasPrefix(got, want) {
			t.Errorf("SanitizeLog(%q) = %q, want %q", in, got, want)
		}
	}
	if got := SanitizeLog(strings.Repeat("x", 1000)); len(got) > MaxLogValue+4 || !strings.HasSuffix(got, "…") {
		t.Errorf("not cut: %d bytes", len(got))
	}
}
