// Command keytask runs the national key-task management platform for technical
// education (全国技工教育重点任务管理平台): its web server and API, Temporal worker,
// projector, migrations and audit tools, or all of them at once with `keytask dev`.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	_ "time/tzdata" // deadlines are in Asia/Shanghai wherever the binary runs

	"github.com/spf13/cobra"

	"keytask/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries a process exit code out of a command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	var ee exitError
	switch {
	case errors.As(err, &ee):
		os.Exit(ee.code)
	case err != nil:
		fmt.Fprintln(os.Stderr, "keytask:", err)
		os.Exit(1)
	}
}

func newLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func envHelp() string {
	var b strings.Builder
	b.WriteString("\nConfiguration (environment):\n")
	for _, s := range config.Settings {
		fmt.Fprintf(&b, "  %-32s %s\n  %-32s default: %s\n", s.Env, s.Meaning, "", s.Default)
	}
	return b.String()
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "keytask",
		Short:         "全国技工教育重点任务管理平台 — the national key-task platform for technical education",
		Long:          "keytask runs the key tasks of the technical-education five-year plan: intents, selection batches,\nyearly performance collection and audit, on an event log in Postgres orchestrated by Temporal.\n" + envHelp(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newDevCmd(), newServeCmd(), newWorkerCmd(), newProjectorCmd(), newNotifierCmd(),
		newMigrateCmd(), newAdminCmd(), newAuditCmd(), newProjectionsCmd(), newVersionCmd(),
		newDemoCmd(), newBenchCmd(),
	)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the build's main dependencies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "keytask %s\n", version)
			if bi, ok := debug.ReadBuildInfo(); ok {
				fmt.Fprintf(cmd.OutOrStdout(), "go %s\n", bi.GoVersion)
				for _, d := range bi.Deps {
					switch d.Path {
					case "go.temporal.io/sdk", "go.temporal.io/server", "github.com/jackc/pgx/v5",
						"github.com/ThreeDotsLabs/watermill", "github.com/ThreeDotsLabs/watermill-sql/v4":
						fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", d.Path, d.Version)
					}
				}
			}
			return nil
		},
	}
}
