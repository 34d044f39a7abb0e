package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"keytask/config"
	"keytask/db"
	"keytask/domain/identity"
	"keytask/events"
	"keytask/exports"
	"keytask/projections"
)

func newAuditHistoryCmd() *cobra.Command {
	var format, outFile string
	var reveal bool
	cmd := &cobra.Command{
		Use:   "history KIND ID",
		Short: "Print the ordered events of an application, batch, province or project",
		Long: `Print every event about one subject in the log's commit order, each with its actor, role,
organisation, workflow and correlation, as JSON Lines (default) or as an .xlsx workbook (--format xlsx,
which needs --out). KIND is application, batch, province or project.

Objectors' names and contacts are withheld unless --show-objectors is given: only ministry staff
may see who filed an objection.
` + envHelp(),
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := projections.ParseSubjectKind(args[0])
			if err != nil {
				return err
			}
			if format != "jsonl" && format != "xlsx" {
				return fmt.Errorf("--format must be jsonl or xlsx, not %q", format)
			}
			if format == "xlsx" && outFile == "" {
				return fmt.Errorf("--format xlsx needs --out FILE")
			}
			cfg := config.FromEnv()
			ctx := cmd.Context()
			pool, err := db.Open(ctx, cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer pool.Close()
			entries, err := projections.History(ctx, pool, kind, args[1], cliViewer(reveal))
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if format == "xlsx" {
				err = exports.WriteHistoryXLSX(&buf, kind, args[1], entries)
			} else {
				err = exports.WriteHistoryJSONL(&buf, entries)
			}
			if err != nil {
				return err
			}
			if outFile == "" {
				_, err = cmd.OutOrStdout().Write(buf.Bytes())
				return err
			}
			if err := os.WriteFile(outFile, buf.Bytes(), 0o644); err != nil {
				return fmt.Errorf("write history: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d events of %s %s written to %s\n", len(entries), kind, args[1], outFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "jsonl", "jsonl or xlsx")
	cmd.Flags().StringVarP(&outFile, "out", "o", "", "write to this file instead of standard output")
	cmd.Flags().BoolVar(&reveal, "show-objectors", false, "show objectors' names and contacts (ministry staff only)")
	return cmd
}

func newAuditExplainCmd() *cobra.Command {
	var reveal bool
	cmd := &cobra.Command{
		Use:   "explain BATCH APPLICATION",
		Short: "Explain a published selection result for one application, from the batch's events",
		Long: `Print, as JSON, why the published result of a selection batch came out as it did for one application:
the experts assigned and why, their scores, the ranking entry with the rule that decided its place (the
tie-break) and the quota line, the objections and their outcomes, and the log positions it rests on.
Objectors' names and contacts are withheld unless --show-objectors is given (ministry staff only).
` + envHelp(),
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := config.FromEnv()
			ctx := cmd.Context()
			pool, err := db.Open(ctx, cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer pool.Close()
			x, err := projections.Explain(ctx, events.NewStore(pool), args[0], args[1], cliViewer(reveal))
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			return enc.Encode(x)
		},
	}
	cmd.Flags().BoolVar(&reveal, "show-objectors", false, "show objectors' names and contacts (ministry staff only)")
	return cmd
}

// cliViewer is whom the command reads for: the ministry with --show-objectors,
// otherwise an auditor, so that package privacy withholds what it withholds
// from auditors on the pages.
func cliViewer(reveal bool) identity.Principal {
	if reveal {
		return identity.Principal{UserID: "cli", Role: identity.RoleMinistry, Organisation: identity.MinistryOrganisation}
	}
	return identity.Principal{UserID: "cli", Role: identity.RoleAuditor}
}
