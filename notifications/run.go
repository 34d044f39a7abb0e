package notifications

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"keytask/events"
	"keytask/projections"
)

// Service is the notifier and the mail sender together.
type Service struct {
	projector *projections.Projector
	sender    *Sender
}

// Options configure a Service.
type Options struct {
	Mailer     Mailer
	Registry   prometheus.Registerer // nil: no metrics
	Logger     *slog.Logger          // nil: slog.Default()
	Poll       time.Duration         // how often the outbox is looked at; zero means 1 s
	Middleware []message.HandlerMiddleware
	// MailMaxAge: see Notifier.MailMaxAge.
	MailMaxAge time.Duration
}

// New sets up the notifier's tables and checkpoint.
func New(pool *pgxpool.Pool, store *events.Store, o Options) (*Service, error) {
	if o.Mailer == nil {
		return nil, errors.New("notifications: a mailer is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	pr, err := projections.NewProjector(pool, store, o.Registry, o.Logger.With("component", "notifier"), Notifier{MailMaxAge: o.MailMaxAge})
	if err != nil {
		return nil, err
	}
	pr.AddHandlerMiddleware(o.Middleware...)
	sender := &Sender{Pool: pool, Mailer: o.Mailer, Logger: o.Logger.With("component", "mail"), Poll: o.Poll}
	if o.Registry != nil {
		if sender.Sent, err = counter(o.Registry, "keytask_notification_mail_sent_total", "Notification mails the relay accepted."); err != nil {
			return nil, err
		}
		if sender.Failed, err = counter(o.Registry, "keytask_notification_mail_failures_total", "Failed attempts to send a notification mail (each is retried)."); err != nil {
			return nil, err
		}
	}
	return &Service{projector: pr, sender: sender}, nil
}

// counter registers a counter, or returns the one already registered under
// the name (a restarted service shares the registry).
func counter(reg prometheus.Registerer, name, help string) (prometheus.Counter, error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(prometheus.Counter); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("notifications: register %s: %w", name, err)
	}
	return c, nil
}

// Run consumes events and sends mail until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var sendErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		sendErr = s.sender.Run(ctx)
	}()
	err := s.projector.Run(ctx)
	cancel()
	wg.Wait()
	return errors.Join(err, sendErr)
}

// WaitCaughtUp returns when the notifier has handled every event committed
// when it was called.
func (s *Service) WaitCaughtUp(ctx context.Context) error { return s.projector.WaitCaughtUp(ctx) }
