package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"keytask/config"
	"keytask/db"
	"keytask/events"
	"keytask/projections"
)

func newMigrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations embedded in this binary",
		Long:  "Apply every embedded schema migration not yet applied to KEYTASK_DATABASE_URL. Safe to run repeatedly and concurrently.\n" + envHelp(),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.FromEnv()
			applied, err := migrate(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "database is up to date")
			}
			for _, a := range applied {
				fmt.Fprintln(cmd.OutOrStdout(), "applied", a)
			}
			return nil
		},
	}
}

func migrate(ctx context.Context, url string) ([]string, error) {
	owner, err := db.OpenOwner(ctx, url)
	if err != nil {
		return nil, err
	}
	defer owner.Close()
	return db.Migrate(ctx, owner)
}

func newAuditCmd() *cobra.Command {
	audit := &cobra.Command{Use: "audit", Short: "Audit the event log"}
	audit.AddCommand(&cobra.Command{
		Use:   "verify",
		Short: "Walk the whole log and check its hash chain",
		Long: `Walk the event log from position 1, recompute every hash of the chain from the stored events and,
with the log key (KEYTASK_LOG_KEY or the data dir's log-key), check every event's signature, which
catches rows inserted directly into the database even before they are sealed. Exits 0 printing the count and the
head hash when the log is intact; exits 2 naming the first bad position when any row was changed,
deleted, inserted out of band or reordered.
` + envHelp(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.FromEnv()
			ctx := cmd.Context()
			pool, err := db.Open(ctx, cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer pool.Close()
			// One snapshot for the whole walk, so a concurrent append cannot make
			// the two passes disagree.
			tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx) //nolint:errcheck
			key, err := loadLogKey(cfg, false)
			if err != nil {
				return err
			}
			rep, err := events.Verify(ctx, tx, key, nil)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !rep.OK() {
				fmt.Fprintf(out, "TAMPERED: first bad position %d: %s\n", rep.BadPosition, rep.Problem)
				fmt.Fprintf(out, "verified %d events before it\n", rep.Events)
				return exitError{2}
			}
			fmt.Fprintf(out, "OK: %d events verified, head position %d, head hash %s\n", rep.Events, rep.Head.Position, rep.HeadHex())
			if rep.MACsChecked {
				fmt.Fprintln(out, "every event carries keytask's signature")
			} else {
				fmt.Fprintln(out, "WARNING: no log key (KEYTASK_LOG_KEY or the data dir's log-key): signatures not checked, so rows inserted at the head would go unnoticed")
			}
			if rep.Pending > 0 {
				fmt.Fprintf(out, "%d newer events are committed and awaiting sealing\n", rep.Pending)
			}
			return nil
		},
	})
	return audit
}

func newProjectionsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "projections", Short: "Manage the read models"}
	cmd.AddCommand(&cobra.Command{
		Use:   "rebuild [NAME]",
		Short: "Rebuild one read model (or all) from the event log",
		Long: `Rebuild a read model from the event log in one transaction, showing progress, and print its
digest before and after: a rebuilt model equals the live one. Without NAME every projection is rebuilt.
Names: ` + projectionNames() + "\n" + envHelp(),
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := config.FromEnv()
			ctx := cmd.Context()
			pool, err := db.Open(ctx, cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer pool.Close()
			store := newStore(pool, nil, nil)
			ps := allProjections()
			if len(args) == 1 {
				ps = nil
				for _, p := range allProjections() {
					if p.Name() == args[0] {
						ps = append(ps, p)
					}
				}
				if len(ps) == 0 {
					return fmt.Errorf("no projection named %q (have: %s)", args[0], projectionNames())
				}
			}
			out := cmd.OutOrStdout()
			for _, p := range ps {
				before, err := projections.Digest(ctx, pool, p)
				if err != nil {
					return err
				}
				after, err := projections.Rebuild(ctx, pool, store, p, projections.ProgressBar(cmd.ErrOrStderr(), p.Name()))
				if err != nil {
					return err
				}
				same := "identical to the live model"
				if before != after {
					same = "differs from the live model before the rebuild"
				}
				fmt.Fprintf(out, "%s: rebuilt, digest %s (%s)\n", p.Name(), after, same)
			}
			return nil
		},
	})
	return cmd
}
