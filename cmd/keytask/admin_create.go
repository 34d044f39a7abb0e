package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"keytask/api"
	"keytask/config"
	"keytask/db"
)

func newAdminCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Manage the ministry administrators"}
	var name string
	create := &cobra.Command{
		Use:   "create USER_ID",
		Short: "Create a ministry administrator (部管理员) with the password read on stdin",
		Long: `Register USER_ID as a ministry administrator and give them the password on the first line of
standard input, so that a new deployment has someone who can log into the pages:
  printf '%s\n' "$PASSWORD" | keytask admin create zhang.wei --name 张伟
Running it again for a user who already has a password changes nothing and says so; it never replaces a
password (use the password pages for that). Run after ` + "`keytask migrate`" + `; the user can log in once the
projector has caught up.
` + envHelp(),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			password, err := readPassword(cmd.InOrStdin())
			if err != nil {
				return err
			}
			cfg := config.FromEnv()
			ctx := cmd.Context()
			pool, err := db.Open(ctx, cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer pool.Close()
			key, err := loadLogKey(cfg, false)
			if err != nil {
				return err
			}
			store := newStore(pool, nil, key)
			if err := store.CheckTxIDs(ctx); err != nil {
				return err
			}
			changed, err := api.CreateAdmin(ctx, store, args[0], name, password)
			if err != nil {
				return err
			}
			if changed {
				fmt.Fprintf(cmd.OutOrStdout(), "ministry administrator %s is ready to log in with the given password\n", args[0])
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "ministry administrator %s already has a password; nothing changed\n", args[0])
			}
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "部管理员", "the administrator's name as the pages show it")
	cmd.AddCommand(create)
	return cmd
}

// readPassword reads the first line of r, so a password never appears in the
// process list or the shell history as an argument would.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on stdin: pipe it in, e.g. printf '%s\\n' \"$PASSWORD\" | keytask admin create USER_ID")
	}
	return line, nil
}

// adminPasswordFile keeps the first password dev gives its administrator.
const adminPasswordFile = "admin-password"

// devAdminPassword returns the password dev gives the administrator on its
// first start, kept in the data dir like the admin token.
func devAdminPassword(dataDir string) (string, error) {
	path := filepath.Join(dataDir, adminPasswordFile)
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 12)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	// 96 random bits, with a letter of each case, a digit and a sign so that
	// any password policy of the platform accepts it.
	pw := "Kt-" + base64.RawURLEncoding.EncodeToString(raw) + "9a"
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", err
	}
	return pw, nil
}
