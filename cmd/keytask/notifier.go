package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"keytask/config"
	"keytask/notifications"
)

// mailer is the configured mail transport: the SMTP relay, or .eml files under
// the data dir. Only dev falls back to files by itself: anywhere else files
// would sit on a scratch volume, marked sent and read by no one.
func mailer(cfg config.Config, dev bool) (notifications.Mailer, error) {
	files := notifications.DirMailer{Dir: filepath.Join(cfg.DataDir, "mail"), From: cfg.SMTPFrom}
	switch cfg.Mailer {
	case "files":
		return files, nil
	case "", "smtp":
	default:
		return nil, fmt.Errorf("KEYTASK_MAILER %q: want smtp or files", cfg.Mailer)
	}
	if cfg.SMTPAddr == "" {
		if dev && cfg.Mailer == "" {
			return files, nil
		}
		return nil, errors.New("no SMTP relay: set KEYTASK_SMTP_ADDR, or KEYTASK_MAILER=files to write mail as .eml files under the data dir")
	}
	switch cfg.SMTPSecurity {
	case notifications.SecurityStartTLS, notifications.SecurityTLS, notifications.SecurityNone:
	default:
		return nil, fmt.Errorf("KEYTASK_SMTP_SECURITY %q: want starttls, tls or none", cfg.SMTPSecurity)
	}
	return notifications.SMTPMailer{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom,
		Username: cfg.SMTPUsername, Password: cfg.SMTPPassword, Security: cfg.SMTPSecurity}, nil
}

func (p *platform) runNotifier(ctx context.Context, m notifications.Mailer) error {
	svc, err := notifications.New(p.pool, p.store, notifications.Options{
		Mailer: m, Registry: p.reg, Logger: p.log.With("component", "notifier"),
	})
	if err != nil {
		return err
	}
	if d, ok := m.(notifications.DirMailer); ok {
		p.log.Info("notification mail goes to files", "dir", d.Dir)
	}
	return svc.Run(ctx)
}

func newNotifierCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "notifier",
		Short: "Turn events into inbox notices and mail, and send the mail outbox",
		Long: "Consume the events topic in its own consumer group, write one inbox entry per user and one mail per\n" +
			"address for each reminder, escalation, return and tracking notice, and send the mail outbox over SMTP\n" +
			"(KEYTASK_SMTP_ADDR). Without a relay it refuses to start unless KEYTASK_MAILER=files asks for .eml files\n" +
			"under the data dir. Needs the projector's read models.\n" + envHelp(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := mailer(config.FromEnv(), false)
			if err != nil {
				return err
			}
			return runParts(cmd.Context(), false, func(ctx context.Context, p *platform, g *group) {
				g.goRun("notifier", func() error { return p.runNotifier(ctx, m) })
				g.goRun("metrics", func() error { return p.runMetrics(ctx) })
				g.goRun("sealer", func() error { return p.runSealer(ctx) })
			})
		},
	}
}
