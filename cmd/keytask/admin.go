package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"keytask/config"
	"keytask/db"
	"keytask/projections"
)

func newMigrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations embedded in this binary",
		Long: "Apply every embedded schema migration not yet applied, as the schema's owner (KEYTASK_MIGRATE_DATABASE_URL, else\n" +
			"KEYTASK_DATABASE_URL). Safe to run repeatedly and concurrently.\n" + envHelp(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.FromEnv()
			applied, err := migrate(cmd.Context(), cfg.OwnerURL())
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

func newProjectionsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "projections", Short: "Manage the read models"}
	cmd.AddCommand(&cobra.Command{
		Use:   "rebuild [NAME]",
		Short: "Rebuild one read model (or all) from the event log",
		Long: `Rebuild a read model from the event log, online, showing progress, and print its digest before
and after: a rebuilt model equals the live one. The model is built at this release's schema version into
shadow tables while the live ones keep serving and the projector keeps them current, then swapped in
with its checkpoint in one transaction. Without NAME every projection is rebuilt.
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
			if err := store.CheckTxIDs(ctx); err != nil {
				return err
			}
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
				// A live model of an older schema version may not be readable
				// by this release's digest; the rebuild replaces it all the same.
				before, beforeErr := projections.Digest(ctx, pool, p)
				after, err := projections.Rebuild(ctx, pool, store, p, projections.ProgressBar(cmd.ErrOrStderr(), p.Name()))
				if err != nil {
					return err
				}
				same := "identical to the live model"
				switch {
				case beforeErr != nil:
					same = "the live model before it had another shape"
				case before != after:
					same = "differs from the live model before the rebuild"
				}
				fmt.Fprintf(out, "%s: rebuilt, digest %s (%s)\n", p.Name(), after, same)
			}
			return nil
		},
	})
	return cmd
}
