package notifications

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Mail is one message of the outbox.
type Mail struct {
	ID        string // the outbox key; also the Message-ID's local part
	To        string
	Subject   string
	Body      string
	CreatedAt time.Time
}

// Mailer delivers one mail. Delivering the same Mail.ID twice must be
// recognisable as one message: both SMTP and the directory sink use the id.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// Render returns the RFC 5322 message of m from sender: UTF-8 text in base64,
// the subject encoded per RFC 2047, and a Message-ID derived from the outbox
// key, so a mail sent again after a crash is the same message to the receiver.
func Render(from string, m Mail) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", headerAddress(from))
	hdr("To", headerAddress(m.To))
	hdr("Subject", mime.BEncoding.Encode("UTF-8", m.Subject))
	hdr("Date", m.CreatedAt.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+m.ID+"@keytask>")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `text/plain; charset="UTF-8"`)
	hdr("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(m.Body))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.Bytes()
}

// Connection security of an SMTP relay.
const (
	SecurityStartTLS = "starttls" // plain connection upgraded with STARTTLS, which is required
	SecurityTLS      = "tls"      // implicit TLS from the first byte (usually port 465)
	SecurityNone     = "none"     // no encryption: only for a relay on the local host or network
)

// SMTPMailer sends through an SMTP relay, authenticating with PLAIN when a
// username is set.
type SMTPMailer struct {
	Addr     string // host:port
	From     string
	Username string
	Password string
	Security string        // one of the Security constants; empty means SecurityStartTLS
	Timeout  time.Duration // per mail; zero means 30 s
}

// Send implements Mailer.
func (s SMTPMailer) Send(ctx context.Context, m Mail) error {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.send(ctx, m); err != nil {
		return fmt.Errorf("smtp %s: %w", s.Addr, err)
	}
	return nil
}

func (s SMTPMailer) send(ctx context.Context, m Mail) error {
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return err
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return err
		}
	}
	tlsConfig := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	var c *smtp.Client
	switch s.Security {
	case SecurityNone:
		c = smtp.NewClient(conn)
	case SecurityTLS:
		c = smtp.NewClient(tls.Client(conn, tlsConfig))
	case "", SecurityStartTLS:
		if c, err = smtp.NewClientStartTLS(conn, tlsConfig); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown security %q", s.Security)
	}
	defer c.Close()
	if s.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.Username, s.Password)); err != nil {
			return err
		}
	}
	from := envelope(s.From)
	var opts *smtp.MailOptions
	if !isASCII(from) || !isASCII(m.To) {
		opts = &smtp.MailOptions{UTF8: true} // an internationalised address needs SMTPUTF8
	}
	if err := c.Mail(from, opts); err != nil {
		return err
	}
	if err := c.Rcpt(m.To, nil); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code >= 500 {
			return fmt.Errorf("%w: %w", ErrRecipientRejected, err)
		}
		return err
	}
	wc, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := wc.Write(Render(s.From, m)); err != nil {
		wc.Close()
		return err
	}
	if err := wc.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// headerAddress encodes an address for a header: a display name in Chinese
// must be RFC 2047-encoded, which net/mail does.
func headerAddress(s string) string {
	if a, err := netmail.ParseAddress(s); err == nil {
		return a.String()
	}
	return s
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// ErrRecipientRejected wraps a relay's permanent refusal of the recipient
// (a 5xx reply to RCPT): retrying cannot help, so the Sender gives the mail up.
var ErrRecipientRejected = errors.New("recipient rejected")

// envelope is the bare address of a From header such as "平台 <a@b>".
func envelope(from string) string {
	if i, j := strings.LastIndex(from, "<"), strings.LastIndex(from, ">"); i >= 0 && j > i {
		return from[i+1 : j]
	}
	return from
}

// DirMailer is the development sink: each mail is written to Dir as
// <mail id>.eml. Writing the same mail again replaces the file, so the
// directory holds exactly one file per mail.
type DirMailer struct {
	Dir  string
	From string
}

// Send implements Mailer.
func (d DirMailer) Send(_ context.Context, m Mail) error {
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.Dir, ".mail-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(Render(d.From, m)); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(d.Dir, m.ID+".eml"))
}

// Sender drains the mail outbox. It leases one due mail at a time: one
// statement claims it until now + Lease (next_attempt_at holds the lease, and
// SKIP LOCKED lets several senders share the work), the SMTP conversation runs
// outside any transaction, and a second statement marks the mail sent or
// reschedules it. No transaction stays open while a relay answers, because an
// open transaction holds back the log's sealer and every projection. A sender
// that dies mid-send leaves the lease to expire; another sender then sends the
// mail again with the same Message-ID, so nothing is lost. A failed send is
// retried with a growing delay.
type Sender struct {
	Pool   *pgxpool.Pool
	Mailer Mailer
	Logger *slog.Logger
	// Poll is how often an empty outbox is looked at again; zero means 1 s.
	Poll time.Duration
	// MaxBackoff caps the delay between attempts; zero means 1 h.
	MaxBackoff time.Duration
	// Lease is how long a claimed mail is left to its sender before another
	// may take it over; zero means 2 min, past SMTPMailer's 30 s timeout.
	Lease time.Duration
	// Sent and Failed count sends and failed attempts; nil counts nothing.
	Sent, Failed prometheus.Counter
}

func inc(c prometheus.Counter) {
	if c != nil {
		c.Inc()
	}
}

// Run sends due mail until ctx ends; it returns nil then.
func (s *Sender) Run(ctx context.Context) error {
	poll := s.Poll
	if poll <= 0 {
		poll = time.Second
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	for {
		sent, err := s.SendDue(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("mail outbox", "err", err)
		}
		if sent > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

// SendDue sends every mail that is due now and returns how many were sent.
// Failed sends are rescheduled, not returned as errors.
func (s *Sender) SendDue(ctx context.Context) (int, error) {
	sent := 0
	for {
		ok, err := s.sendOne(ctx)
		if err != nil || !ok {
			return sent, err
		}
		sent++
	}
}

// interval renders d for a Postgres interval parameter.
func interval(d time.Duration) string { return fmt.Sprintf("%d milliseconds", d.Milliseconds()) }

// sendOne leases, sends and settles one due mail; ok is false when none was
// due (a failed send that was rescheduled counts as handled).
func (s *Sender) sendOne(ctx context.Context) (ok bool, err error) {
	maxBackoff := s.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = time.Hour
	}
	lease := s.Lease
	if lease <= 0 {
		lease = 2 * time.Minute
	}
	var m Mail
	var attempts int
	err = s.Pool.QueryRow(ctx, `UPDATE mail_outbox SET next_attempt_at = now() + $1::interval
		WHERE mail_id = (SELECT mail_id FROM mail_outbox
			WHERE sent_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= now()
			ORDER BY next_attempt_at, mail_id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING mail_id, recipient, subject, body, created_at, attempts`, interval(lease)).
		Scan(&m.ID, &m.To, &m.Subject, &m.Body, &m.CreatedAt, &attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lease a mail: %w", err)
	}
	serr := s.Mailer.Send(ctx, m)
	// The outcome is recorded even when ctx ended meanwhile: a mail the relay
	// took must not wait for its lease to run out and go again.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	switch {
	case serr == nil:
		_, err = s.Pool.Exec(sctx, `UPDATE mail_outbox SET attempts = attempts + 1, last_error = '', sent_at = now() WHERE mail_id = $1`, m.ID)
		if err == nil {
			inc(s.Sent)
		}
	case ctx.Err() != nil:
		// Stopped mid-send: give the mail back at once rather than after the lease.
		_, err = s.Pool.Exec(sctx, `UPDATE mail_outbox SET next_attempt_at = now() WHERE mail_id = $1 AND sent_at IS NULL`, m.ID)
		if err == nil {
			err = ctx.Err()
		}
	case errors.Is(serr, ErrRecipientRejected):
		inc(s.Failed)
		if s.Logger != nil {
			s.Logger.Warn("mail recipient rejected; giving up", "mail_id", m.ID, "to", m.To, "err", serr)
		}
		_, err = s.Pool.Exec(sctx, `UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2, gave_up_at = now() WHERE mail_id = $1`,
			m.ID, serr.Error())
	default:
		inc(s.Failed)
		delay := min(time.Duration(1<<min(attempts, 20))*time.Second, maxBackoff)
		_, err = s.Pool.Exec(sctx, `UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2,
			next_attempt_at = now() + $3::interval WHERE mail_id = $1 AND sent_at IS NULL`,
			m.ID, serr.Error(), interval(delay))
		if s.Logger != nil {
			s.Logger.Warn("mail not sent; will retry", "mail_id", m.ID, "to", m.To, "attempt", attempts+1, "retry_in", delay, "err", serr)
		}
	}
	if err != nil {
		return false, fmt.Errorf("send mail %s: %w", m.ID, err)
	}
	return true, nil
}
