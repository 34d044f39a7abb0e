package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"keytask/api"
	"keytask/config"
	"keytask/notifications"
	"keytask/temporalx/devserver"
	"keytask/workflows"
)

func newDevCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "dev",
		Short: "Run the whole platform on this machine with one command",
		Long: `Start everything keytask needs: Postgres (the configured server, or a private cluster under the data
dir when none answers and Postgres binaries are installed), the migrations, an embedded Temporal server
persisted under the data dir with its Web UI (unless KEYTASK_TEMPORAL_ADDRESS names a cluster), the
worker, the projector and the HTTP server. Prints the URLs and how to log in. Ctrl-C stops everything;
a restart resumes workflows and projections where they were.
` + envHelp(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDev(cmd.Context(), cmd) },
	}
}

func runDev(ctx context.Context, cmd *cobra.Command) error {
	cfg := config.FromEnv()
	log := newLogger()
	logf := func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) }
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return err
	}

	mail, err := mailer(cfg, true)
	if err != nil {
		return err
	}
	dbURL, stopPG, err := ensureDatabase(ctx, cfg.DatabaseURL, cfg.DatabaseURLSet, cfg.DataDir, logf)
	if err != nil {
		return err
	}
	defer stopPG()
	cfg.DatabaseURL = dbURL
	applied, err := migrate(ctx, cfg.OwnerURL())
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		logf("applied migrations: %v", applied)
	}
	if cfg.MigrateDatabaseURL == "" {
		// One URL given (or none): it is the owner's, and the platform logs in
		// as a role of its own that holds no more than the writer role.
		cfg.MigrateDatabaseURL = cfg.DatabaseURL
		if cfg.DatabaseURL, err = runtimeLogin(ctx, cfg.DatabaseURL, logf); err != nil {
			return err
		}
	}

	if _, err := loadLogKey(cfg, true); err != nil {
		return err
	}
	if _, err := loadPayloadCodec(cfg, true); err != nil {
		return err
	}
	if _, _, err := loadDigestKey(cfg, true); err != nil {
		return err
	}

	temporalAddr, uiURL := cfg.TemporalAddress, ""
	if temporalAddr == "" {
		srv, err := devserver.Start(ctx, devserver.Options{
			DataDir:          filepath.Join(cfg.DataDir, "temporal"),
			FrontendAddr:     cfg.TemporalEmbeddedAddr,
			UIAddr:           cfg.TemporalUIAddr,
			CodecEndpoint:    "http://" + cfg.HTTPAddr + "/codec",
			Namespace:        cfg.TemporalNamespace,
			SearchAttributes: workflows.SearchAttributes(),
			Logger:           log.With("component", "temporal-server"),
		})
		if err != nil {
			return fmt.Errorf("embedded Temporal server: %w", err)
		}
		defer func() {
			if err := srv.Stop(); err != nil {
				log.Warn("stopping the embedded Temporal server", "err", err)
			}
		}()
		temporalAddr, uiURL = srv.FrontendAddr(), srv.UIURL()
	}

	p, err := openPlatform(ctx, cfg, temporalAddr, log)
	if err != nil {
		return err
	}
	defer p.close()

	token, created, err := api.SeedAdmin(ctx, p.store, cfg.DataDir)
	if err != nil {
		return err
	}
	// A first password, so a newcomer logs into the pages without the API. It
	// is set only while the administrator has none: one they chose stands.
	password, err := devAdminPassword(cfg.DataDir)
	if err != nil {
		return err
	}
	if _, err := api.CreateAdmin(ctx, p.store, "admin", "部管理员", password); err != nil {
		return fmt.Errorf("the administrator's first password: %w", err)
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	g := &group{stop: stop}
	g.goRun("sealer", func() error { return p.runSealer(runCtx) })
	g.goRun("projector", func() error { return p.runProjector(runCtx) })
	g.goRun("notifier", func() error { return p.runNotifier(runCtx, mail) })
	g.goRun("worker", func() error { return p.runWorker(runCtx) })
	g.goRun("http", func() error { return p.runHTTP(runCtx, p.temporalReady) })

	base := "http://" + cfg.HTTPAddr
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "\nkeytask 全国技工教育重点任务管理平台 is running\n")
	fmt.Fprintf(out, "  web pages        %s/login\n", base)
	fmt.Fprintf(out, "  API              %s/api/v1/\n", base)
	fmt.Fprintf(out, "  health           %s/healthz   %s/readyz   %s/readyz/commands\n", base, base, base)
	fmt.Fprintf(out, "  metrics          %s/metrics\n", base)
	if uiURL != "" {
		fmt.Fprintf(out, "  Temporal UI      %s\n", uiURL)
	}
	fmt.Fprintf(out, "  Temporal         %s (namespace %s)\n", temporalAddr, cfg.TemporalNamespace)
	fmt.Fprintf(out, "  database         %s\n", redact(cfg.DatabaseURL))
	fmt.Fprintf(out, "  data dir         %s\n", cfg.DataDir)
	if d, ok := mail.(notifications.DirMailer); ok {
		fmt.Fprintf(out, "  mail (files)     %s\n", d.Dir)
	} else {
		fmt.Fprintf(out, "  mail (SMTP)      %s\n", cfg.SMTPAddr)
	}
	if created {
		fmt.Fprintf(out, "\nA ministry administrator (部管理员, user id admin) was created.\n")
	}
	fmt.Fprintf(out, "Log in to the pages at %s/login as user admin with password %s\n", base, password)
	fmt.Fprintf(out, "(kept in %s until you change it on the password page).\n", filepath.Join(cfg.DataDir, adminPasswordFile))
	fmt.Fprintf(out, "Log in to the API as the administrator with:\n  curl -H 'Authorization: Bearer %s' %s/api/v1/me\n", token, base)
	fmt.Fprintf(out, "(the token is kept in %s)\nPress Ctrl-C to stop.\n\n", filepath.Join(cfg.DataDir, "admin-token"))

	err = g.wait()
	// Give in-flight work a moment; deferred stops run in reverse order of start.
	time.Sleep(100 * time.Millisecond)
	if err != nil {
		return err
	}
	logf("stopped")
	return nil
}
