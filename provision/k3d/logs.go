package k3d

import (
	"context"
	"io"
	"log/slog"
	"strings"

	l "github.com/k3d-io/k3d/v5/pkg/logger"
	"github.com/sirupsen/logrus"
)

// routeSDKLogs sends the k3d SDK's logrus output to log and returns the
// function that restores it. The SDK logs through one global logrus
// logger; without this it would print its own lines on stderr.
func routeSDKLogs(log *slog.Logger) (restore func()) {
	lg := l.Log()
	out, hooks, level := lg.Out, lg.Hooks, lg.GetLevel()
	lg.SetOutput(io.Discard)
	lg.ReplaceHooks(logrus.LevelHooks{})
	lg.AddHook(slogHook{log: log})
	// The Docker client copies this level onto logrus' standard logger,
	// which prints to stderr: ask for debug lines only when they are wanted.
	lg.SetLevel(logrus.InfoLevel)
	if log != nil && log.Enabled(context.Background(), slog.LevelDebug) {
		lg.SetLevel(logrus.DebugLevel)
	}
	return func() {
		lg.SetOutput(out)
		lg.ReplaceHooks(hooks)
		lg.SetLevel(level)
	}
}

type slogHook struct{ log *slog.Logger }

func (h slogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h slogHook) Fire(e *logrus.Entry) error {
	if h.log == nil {
		return nil
	}
	level := slog.LevelDebug
	switch {
	case e.Level <= logrus.ErrorLevel:
		level = slog.LevelError
	case e.Level == logrus.WarnLevel:
		level = slog.LevelWarn
	case e.Level == logrus.InfoLevel:
		// The SDK's info lines are progress chatter for a CLI user.
		level = slog.LevelDebug
	}
	h.log.Log(context.Background(), level, strings.TrimSpace(e.Message), "source", "k3d")
	return nil
}
