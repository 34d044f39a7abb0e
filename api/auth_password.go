package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/argon2"

	"keytask/domain"
	"keytask/projections"
)

// argon2id parameters (RFC 9106's second recommendation, with 2 lanes for a
// small server): about 64 MiB and a few tens of milliseconds per login.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 2
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Password rules. Long passphrases are welcome; the upper bound only keeps a
// request from making the hash work on megabytes.
const (
	minPasswordRunes = 10
	maxPasswordBytes = 256
)

// Lockout: after maxFailedLogins wrong passwords in a row from one client
// address, that address is refused every login to the account, right or
// wrong, for lockoutPeriod; after maxFailedAccountLogins in a row from any
// addresses the account refuses everyone. One address alone can therefore
// never lock an account for its owner.
const (
	maxFailedLogins        = 5
	maxFailedAccountLogins = 20
	lockoutPeriod          = 15 * time.Minute
)

// hashPassword returns the PHC string of password under a new random salt.
func hashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// checkPassword reports whether password matches the PHC string, with the
// parameters the string records, so that raising them later keeps old hashes valid.
func checkPassword(phc, password string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("password hash is not an argon2id PHC string")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("password hash version %q", parts[2])
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("password hash parameters %q: %w", parts[3], err)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("password hash salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return false, fmt.Errorf("password hash key: %w", err)
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is checked against when a login names no known account, so that
// the answer takes as long as for a real one and does not reveal which ids exist.
var dummyHash = func() string {
	h, err := hashPassword("keytask-no-such-account")
	if err != nil {
		panic(err)
	}
	return h
}()

// validatePassword returns a *domain.FieldError for field unless password is acceptable.
func validatePassword(field, password string) error {
	switch {
	case utf8.RuneCountInString(password) < minPasswordRunes:
		return domain.Invalid(field, fmt.Sprintf("密码至少%d位", minPasswordRunes),
			fmt.Sprintf("password shorter than %d characters", minPasswordRunes))
	case len(password) > maxPasswordBytes:
		return domain.Invalid(field, fmt.Sprintf("密码不能超过%d个字节", maxPasswordBytes),
			fmt.Sprintf("password longer than %d bytes", maxPasswordBytes))
	case strings.TrimSpace(password) != password:
		return domain.Invalid(field, "密码首尾不能有空格", "password has surrounding white space")
	case commonPassword(password):
		return domain.Invalid(field, "该密码过于常见，容易被猜中，请换一个", "password is a common one")
	}
	return nil
}

//go:embed common_passwords.txt
var commonPasswordsText string

// commonPasswords are the listed ones, lower-cased.
var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Split(commonPasswordsText, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			m[strings.ToLower(line)] = true
		}
	}
	return m
}()

// sequences are the rows guessers walk, forwards or backwards.
var sequences = []string{"01234567890", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm"}

// commonPassword reports whether password is one guessers try first: listed,
// one character repeated, or a stretch of a digit, alphabet or keyboard row.
func commonPassword(password string) bool {
	p := strings.ToLower(password)
	if p == "" || commonPasswords[p] || strings.Count(p, string([]rune(p)[0])) == utf8.RuneCountInString(p) {
		return true
	}
	for _, seq := range sequences {
		rev := []rune(seq)
		slices.Reverse(rev)
		if strings.Contains(seq, p) || strings.Contains(string(rev), p) {
			return true
		}
	}
	return false
}

// SetPassword sets the password of a registered user, ends all their sessions
// (whoever knew the old password is logged out) and lifts any lockout. Replacing
// a password they had (a change or a reset) also revokes every token of theirs:
// whoever suspects their account is known to someone else changes the password
// and locks that someone out of the API too. Errors:
// *domain.FieldError for field "password" or an unknown "user_id".
func SetPassword(ctx context.Context, q *pgxpool.Pool, userID, password string) error {
	if err := validatePassword("password", password); err != nil {
		return err
	}
	if _, err := projections.GetUser(ctx, q, userID); errors.Is(err, projections.ErrUserNotFound) {
		return domain.Invalid("user_id", "用户不存在", err.Error())
	} else if err != nil {
		return err
	}
	h, err := hashPassword(password)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, q, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE bearer_tokens SET revoked_at = now(), revoked_reason = $2
			WHERE user_id = $1 AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM credentials WHERE user_id = $1)`,
			userID, revokedByPassword); err != nil {
			return fmt.Errorf("revoke tokens of %s: %w", userID, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO credentials (user_id, password_hash) VALUES ($1, $2)
			ON CONFLICT (user_id) DO UPDATE SET password_hash = $2, changed_at = now(), failed_logins = 0, locked_until = NULL`,
			userID, h); err != nil {
			return fmt.Errorf("set password of %s: %w", userID, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("end sessions of %s: %w", userID, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM login_failures WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("lift lockout of %s: %w", userID, err)
		}
		return nil
	})
}

// errLocked is a login refused because the account is locked until the time it holds.
type errLocked struct{ until time.Time }

func (e errLocked) Error() string { return "account locked until " + e.until.Format(time.RFC3339) }

// errBadLogin is a login with an unknown account or a wrong password; the user
// is not told which.
var errBadLogin = errors.New("unknown account or wrong password")

// verifyLogin checks userID's password from the client address, counting
// failures towards the lockout (see maxFailedLogins). Errors: errBadLogin,
// errLocked. A locked or unknown account costs the same hash as a real one, so
// the answer's timing tells nothing either.
func verifyLogin(ctx context.Context, q *pgxpool.Pool, userID, password, address string) error {
	var (
		phc                   string
		accountLock, addrLock *time.Time
	)
	err := q.QueryRow(ctx, `SELECT c.password_hash, c.locked_until, f.locked_until
		FROM credentials c LEFT JOIN login_failures f ON f.user_id = c.user_id AND f.address = $2
		WHERE c.user_id = $1`, userID, address).Scan(&phc, &accountLock, &addrLock)
	if errors.Is(err, pgx.ErrNoRows) {
		_, _ = checkPassword(dummyHash, password)
		return errBadLogin
	}
	if err != nil {
		return fmt.Errorf("read credentials of %s: %w", userID, err)
	}
	now := time.Now()
	for _, until := range []*time.Time{accountLock, addrLock} {
		if until != nil && now.Before(*until) {
			_, _ = checkPassword(dummyHash, password)
			return errLocked{until: *until}
		}
	}
	ok, err := checkPassword(phc, password)
	if err != nil {
		return fmt.Errorf("credentials of %s: %w", userID, err)
	}
	if ok {
		return pgx.BeginFunc(ctx, q, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE credentials SET failed_logins = 0, locked_until = NULL WHERE user_id = $1`, userID); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DELETE FROM login_failures WHERE user_id = $1 AND address = $2`, userID, address)
			return err
		})
	}
	// Single statements, so concurrent wrong guesses all count.
	var until, addrUntil *time.Time
	err = pgx.BeginFunc(ctx, q, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `UPDATE credentials SET
				failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,
				locked_until  = CASE WHEN failed_logins + 1 >= $2 THEN now() + $3::interval ELSE locked_until END
			WHERE user_id = $1 RETURNING locked_until`, userID, maxFailedAccountLogins, lockoutPeriod.String()).Scan(&until); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM login_failures WHERE last_at < now() - $1::interval AND (locked_until IS NULL OR locked_until < now())`,
			lockoutPeriod.String()); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO login_failures AS f (user_id, address, failed) VALUES ($1, $2, 1)
			ON CONFLICT (user_id, address) DO UPDATE SET
				failed       = CASE WHEN f.failed + 1 >= $3 THEN 0 ELSE f.failed + 1 END,
				locked_until = CASE WHEN f.failed + 1 >= $3 THEN now() + $4::interval ELSE f.locked_until END,
				last_at      = now()
			RETURNING locked_until`, userID, address, maxFailedLogins, lockoutPeriod.String()).Scan(&addrUntil)
	})
	if err != nil {
		return fmt.Errorf("count failed login of %s: %w", userID, err)
	}
	for _, u := range []*time.Time{until, addrUntil} {
		if u != nil && now.Before(*u) {
			return errLocked{until: *u}
		}
	}
	return errBadLogin
}
