package sip

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"
)

// SafeLogHandler guards logs against the wire: sipgo logs a message it
// could not parse with the whole message as an attribute, at error level,
// once per datagram. Behind this handler every string value loses its
// control characters (CR and LF shown as \r \n, so a message cannot forge
// log lines), is cut to MaxLogValue bytes, and records are rate-limited per
// message text (warnings and errors only: 5 at once, then one per 10 s, the
// skipped ones counted in the next record's "suppressed" attribute). sipgo's "failed to parse"
// records also count cc_sip_dropped_total{reason="unparseable"}.
//
// Install it for sipgo with sip.SetDefaultLogger(slog.New(h)) (sipgo's
// transports log through the default logger).
type SafeLogHandler struct {
	next  slog.Handler
	drops *Drops
	now   func() time.Time
	lim   *logLimits
}

type logLimits struct {
	mu sync.Mutex
	m  map[string]*logBucket
}

type logBucket struct {
	tokens     float64
	last       time.Time
	suppressed int
}

// Log limits.
const (
	MaxLogValue  = 256
	logBurst     = 5
	logEvery     = 10 * time.Second
	maxLogKeys   = 1024
	unparseable  = "failed to parse"
	suppressAttr = "suppressed"
)

// NewSafeLogHandler wraps next; drops may be nil, now nil means time.Now.
func NewSafeLogHandler(next slog.Handler, drops *Drops, now func() time.Time) *SafeLogHandler {
	if now == nil {
		now = time.Now
	}
	return &SafeLogHandler{next: next, drops: drops, now: now, lim: &logLimits{m: map[string]*logBucket{}}}
}

// Enabled reports whether next logs at level (parse failures are always
// counted, whatever the level).
func (h *SafeLogHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelError || h.next.Enabled(ctx, level)
}

// Handle sanitizes and rate-limits r.
func (h *SafeLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == unparseable {
		h.drops.Add(DropUnparseable)
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	// Warnings and errors are what bad input produces: those are limited.
	// Info and debug (a call's own events) are only sanitized.
	suppressed := 0
	if r.Level >= slog.LevelWarn {
		var ok bool
		if suppressed, ok = h.lim.allow(r.Message, h.now()); !ok {
			return nil
		}
	}
	out := slog.NewRecord(r.Time, r.Level, SanitizeLog(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(sanitizeAttr(a))
		return true
	})
	if suppressed > 0 {
		out.AddAttrs(slog.Int(suppressAttr, suppressed))
	}
	return h.next.Handle(ctx, out)
}

// WithAttrs sanitizes attrs once.
func (h *SafeLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = sanitizeAttr(a)
	}
	c := *h
	c.next = h.next.WithAttrs(clean)
	return &c
}

// WithGroup groups.
func (h *SafeLogHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}

func (l *logLimits) allow(key string, now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		if len(l.m) >= maxLogKeys {
			clear(l.m)
		}
		b = &logBucket{tokens: logBurst, last: now}
		l.m[key] = b
	}
	b.tokens = min(logBurst, b.tokens+now.Sub(b.last).Seconds()/logEvery.Seconds())
	b.last = now
	if b.tokens < 1 {
		b.suppressed++
		return 0, false
	}
	b.tokens--
	s := b.suppressed
	b.suppressed = 0
	return s, true
}

func sanitizeAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, SanitizeLog(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, x := range g {
			out[i] = sanitizeAttr(x)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, SanitizeLog(err.Error()))
		}
		if s, ok := v.Any().(interface{ String() string }); ok {
			return slog.String(a.Key, SanitizeLog(s.String()))
		}
		if b, ok := v.Any().([]byte); ok {
			return slog.String(a.Key, SanitizeLog(string(b)))
		}
		return a
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
}

// SanitizeLog makes s safe for one log line: CR, LF and tab as \r \n \t,
// other control characters and invalid UTF-8 as \xNN, cut to MaxLogValue
// bytes with "…" when cut.
func SanitizeLog(s string) string {
	var b strings.Builder
	cut := false
	for i := 0; i < len(s); {
		if b.Len() >= MaxLogValue {
			cut = true
			break
		}
		c := s[i]
		switch {
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&15])
		case c < 0x80:
			b.WriteByte(c)
		default:
			r, size := decodeRune(s[i:])
			if size <= 1 || r == 0x2028 || r == 0x2029 || (r >= 0x80 && r < 0xa0) {
				b.WriteString(`\x`)
				b.WriteByte("0123456789abcdef"[c>>4])
				b.WriteByte("0123456789abcdef"[c&15])
				i++
				continue
			}
			b.WriteString(s[i : i+size])
			i += size
			continue
		}
		i++
	}
	if cut {
		b.WriteString("…")
	}
	return b.String()
}

func decodeRune(s string) (rune, int) {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		return r, 1
	}
	return r, size
}

// sipgo logs through one process-wide logger (sip.DefaultLogger), read by
// its goroutines at any time: ours is installed when this package is
// initialised (before any goroutine of sipgo runs) and what it writes to is
// swapped atomically after that, so several edges in one process (tests)
// never race on it. Until InstallSipgoLogger, it writes to slog.Default.
var sipgoLog struct {
	cur atomic.Pointer[SafeLogHandler]
}

func init() { sip.SetDefaultLogger(slog.New(&sipgoHandler{})) }

// InstallSipgoLogger sends sipgo's own logs (parse failures, transport
// errors) to next through a SafeLogHandler counting into drops. The last
// call wins.
func InstallSipgoLogger(next slog.Handler, drops *Drops) {
	sipgoLog.cur.Store(NewSafeLogHandler(next, drops, nil))
}

// sipgoHandler hands every record to the installed SafeLogHandler, with
// the attributes sipgo added by With.
type sipgoHandler struct {
	attrs []slog.Attr
}

// target is the installed handler, or slog.Default's.
func (h *sipgoHandler) target() slog.Handler {
	if cur := sipgoLog.cur.Load(); cur != nil {
		return cur
	}
	return slog.Default().Handler()
}

func (h *sipgoHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.target().Enabled(ctx, level)
}

func (h *sipgoHandler) Handle(ctx context.Context, r slog.Record) error {
	cur := h.target()
	if len(h.attrs) > 0 {
		r = r.Clone()
		r.AddAttrs(h.attrs...)
	}
	return cur.Handle(ctx, r)
}

func (h *sipgoHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &sipgoHandler{attrs: append(slices.Clip(h.attrs), attrs...)}
}

// WithGroup is not used by sipgo; attributes stay ungrouped.
func (h *sipgoHandler) WithGroup(string) slog.Handler { return h }
