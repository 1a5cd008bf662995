package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/polecam/polecam/training/eventlog"
)

// progressLogEvery is how often reading logs its progress without a
// terminal.
const progressLogEvery = 10 * time.Second

// readProgress returns a callback for eventlog.Options.Progress: a bar on
// stderr when stderr is a terminal, otherwise an info log line at most
// every ten seconds (a cron job has no terminal). finish ends the bar.
func readProgress(stderr io.Writer, log *slog.Logger) (fn func(eventlog.Progress), finish func()) {
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		var bar *progressbar.ProgressBar
		fn = func(p eventlog.Progress) {
			if bar == nil {
				bar = progressbar.NewOptions64(p.TotalBytes,
					progressbar.OptionSetWriter(stderr),
					progressbar.OptionSetDescription("reading events"),
					progressbar.OptionShowBytes(true),
					progressbar.OptionSetWidth(30),
					progressbar.OptionThrottle(200*time.Millisecond),
					progressbar.OptionClearOnFinish(),
				)
			}
			bar.Describe(fmt.Sprintf("reading events (%d lines)", p.Lines))
			bar.Set64(p.Bytes)
		}
		finish = func() {
			if bar != nil {
				bar.Finish()
			}
		}
		return fn, finish
	}
	start := time.Now()
	last := start
	fn = func(p eventlog.Progress) {
		now := time.Now()
		if now.Sub(last) < progressLogEvery {
			return
		}
		last = now
		args := []any{"lines", p.Lines, "events", p.Events, "file", p.File,
			"lines_per_second", int64(float64(p.Lines) / now.Sub(start).Seconds())}
		if p.TotalBytes > 0 {
			args = append(args, "percent", fmt.Sprintf("%.1f", 100*float64(p.Bytes)/float64(p.TotalBytes)))
		}
		log.Info("reading events", args...)
	}
	return fn, func() {}
}
