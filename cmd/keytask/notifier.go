package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"keytask/notifications"
)

// mailer is the configured mail transport: the SMTP relay, or in development
// (no relay configured) .eml files under the data dir.
func (p *platform) mailer() notifications.Mailer {
	if p.cfg.SMTPAddr == "" {
		return notifications.DirMailer{Dir: filepath.Join(p.cfg.DataDir, "mail"), From: p.cfg.SMTPFrom}
	}
	return notifications.SMTPMailer{Addr: p.cfg.SMTPAddr, From: p.cfg.SMTPFrom,
		Username: p.cfg.SMTPUsername, Password: p.cfg.SMTPPassword, Security: p.cfg.SMTPSecurity}
}

func (p *platform) runNotifier(ctx context.Context) error {
	switch p.cfg.SMTPSecurity {
	case notifications.SecurityStartTLS, notifications.SecurityTLS, notifications.SecurityNone:
	default:
		return fmt.Errorf("KEYTASK_SMTP_SECURITY %q: want starttls, tls or none", p.cfg.SMTPSecurity)
	}
	svc, err := notifications.New(p.pool, p.store, notifications.Options{
		Mailer: p.mailer(), Registry: p.reg, Logger: p.log.With("component", "notifier"),
	})
	if err != nil {
		return err
	}
	if p.cfg.SMTPAddr == "" {
		p.log.Info("notification mail goes to files (KEYTASK_SMTP_ADDR is not set)", "dir", filepath.Join(p.cfg.DataDir, "mail"))
	}
	return svc.Run(ctx)
}

func newNotifierCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "notifier",
		Short: "Turn events into inbox notices and mail, and send the mail outbox",
		Long: "Consume the events topic in its own consumer group, write one inbox entry per user and one mail per\n" +
			"address for each reminder, escalation, return and tracking notice, and send the mail outbox over SMTP\n" +
			"(KEYTASK_SMTP_ADDR; without it mail is written under the data dir). Needs the projector's read models.\n" + envHelp(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runParts(cmd.Context(), false, func(ctx context.Context, p *platform, g *group) {
				g.goRun("notifier", func() error { return p.runNotifier(ctx) })
				g.goRun("sealer", func() error { return p.runSealer(ctx) })
			})
		},
	}
}
