package media

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs routes pion's logs into slog, one level down: pion's errors
// become warnings (a browser that goes away makes pion log errors that are
// not ours), its warnings become debug lines (a flood of junk datagrams
// makes pion warn once per datagram), and its info, debug and trace lines
// are dropped. Formatting happens only when the level is enabled.
type pionLogs struct{ log *slog.Logger }

var _ logging.LoggerFactory = pionLogs{}

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) emit(level slog.Level, format string, args []any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	msg := format
	if args != nil {
		msg = fmt.Sprintf(format, args...)
	}
	l.log.Log(context.Background(), level, msg)
}

func (pionLogger) Trace(string)          {}
func (pionLogger) Tracef(string, ...any) {}
func (pionLogger) Debug(string)          {}
func (pionLogger) Debugf(string, ...any) {}
func (pionLogger) Info(string)           {}
func (pionLogger) Infof(string, ...any)  {}

func (l pionLogger) Warn(msg string)               { l.emit(slog.LevelDebug, msg, nil) }
func (l pionLogger) Warnf(format string, a ...any) { l.emit(slog.LevelDebug, format, a) }
func (l pionLogger) Error(msg string)              { l.emit(slog.LevelWarn, msg, nil) }
func (l pionLogger) Errorf(format string, a ...any) {
	l.emit(slog.LevelWarn, format, a)
}
