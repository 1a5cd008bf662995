// Package cli implements the polecam command line: one binary with
// subcommands to generate sample logs, train and publish snapshots, list
// them, and serve recommendations over gRPC.
//
// Run is the whole program; cmd/polecam only hands it the process's
// arguments, streams and a context cancelled by SIGINT or SIGTERM.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/polecam/polecam/internal/pipeline"
	"github.com/polecam/polecam/training/catalog"
	"github.com/polecam/polecam/training/eventlog"
)

// Version is the code version recorded in snapshot manifests; set at link
// time with -ldflags "-X github.com/polecam/polecam/internal/cli.Version=...".
// Left at "dev", the VCS revision from the binary's build information is
// recorded instead (see codeVersion).
var Version = "dev"

// Exit statuses a scheduler can act on; see ExitCode.
const (
	ExitPublished     = 0 // the run did what it was asked (train: published)
	ExitFailure       = 1 // anything else failed: a full disk, a bad flag, a crash of a step
	ExitGateRefused   = 2 // train: the quality gate kept the new version from being published
	ExitInputRejected = 3 // train: the input was rejected (too many bad lines, no events, below the minimum sizes)
)

// ExitCode returns the process exit status for an error Run returned:
// ExitPublished for nil, ExitGateRefused when the quality gate kept a new
// version from being published (so a scheduler can tell "trained, not
// better" from a failure), ExitInputRejected when the input was rejected
// before training (fix the logs, do not retry), ExitFailure otherwise.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitPublished
	case errors.Is(err, pipeline.ErrGateRefused):
		return ExitGateRefused
	case errors.Is(err, pipeline.ErrInputRejected), errors.Is(err, eventlog.ErrTooManyBadLines),
		errors.Is(err, catalog.ErrTooManyBadLines):
		return ExitInputRejected
	}
	return ExitFailure
}

// env carries what every subcommand needs.
type env struct {
	stdout, stderr io.Writer
	logLevel       string
	logFormat      string
}

func (e *env) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(e.logLevel)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q: use debug, info, warn or error", e.logLevel)
	}
	o := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(e.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(e.stderr, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, o)), nil
	default:
		return nil, fmt.Errorf("bad --log-format %q: use text or json", e.logFormat)
	}
}

// Run runs the polecam command line with args (without the program name).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	e := &env{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "polecam",
		Short:         "Low-latency product recommendations over gRPC",
		Long:          "polecam trains implicit-feedback recommendation models from shop event logs,\nsnapshots them into a data directory, and serves top-N recommendations over gRPC.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       codeVersion(),
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&e.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&e.logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(
		newGenCmd(e),
		newTrainCmd(e),
		newSnapshotsCmd(e),
		newServeCmd(e),
		newQuickstartCmd(e),
		newEvalCmd(e),
		newInspectCmd(e), newVerifyCmd(e), newPublishCmd(e), newRollbackCmd(e), newRetainCmd(e), newForgetCmd(e),
		newBenchCmd(e),
	)
	return root.ExecuteContext(ctx)
}
