// Package temporalx wires keytask to Temporal: it dials clients, registers the
// custom search attributes our workflows rely on, and exports the SDK's
// metrics to Prometheus.
//
// It is deliberately small and free of keytask domain types so that cmd/,
// api/ and the workers can all share one way of talking to Temporal, whether
// the frontend is the embedded dev server (temporalx/devserver) or an
// external cluster.
package temporalx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// TaskQueue is the single task queue keytask's workflows and activities run
// on. One queue keeps deployment simple: every keytask worker can run every
// workflow and activity, so there is no routing to get wrong.
const TaskQueue = "keytask"

const (
	// dialAttemptTimeout bounds one connection attempt, so that a frontend
	// that accepts TCP but never answers does not eat the caller's whole
	// deadline in a single try.
	dialAttemptTimeout = 5 * time.Second
	dialBackoffStart   = 100 * time.Millisecond
	dialBackoffMax     = 2 * time.Second

	// searchAttributeSettle is how long RegisterSearchAttributes waits after
	// it actually added attributes. Temporal services cache namespace
	// metadata (refreshed every 2s by default); a workflow started before
	// every service saw the new attribute would be rejected, or worse, its
	// workflow task would keep failing (see DESIGN.md, Known pitfalls).
	searchAttributeSettle = 3 * time.Second
)

// Dial connects to the Temporal frontend at address, retrying until the
// frontend answers or ctx ends. Retrying matters because keytask processes
// are often started together with the server (keytask dev, a compose file,
// a Kubernetes rollout) and the frontend takes a few seconds to come up.
//
// logger and mh may be nil: the SDK then uses its default logger and no
// metrics. codec, when given, seals every payload the client and its workers
// send and opens those they receive.
func Dial(ctx context.Context, address, namespace string, logger *slog.Logger, mh client.MetricsHandler, codec ...*Codec) (client.Client, error) {
	if address == "" {
		return nil, errors.New("temporalx: dial: empty frontend address")
	}
	if namespace == "" {
		namespace = client.DefaultNamespace
	}
	opts := client.Options{
		HostPort:  address,
		Namespace: namespace,
	}
	if logger != nil {
		opts.Logger = sdklog.NewStructuredLogger(logger)
	}
	if mh != nil {
		opts.MetricsHandler = mh
	}
	for _, c := range codec {
		opts.DataConverter = DataConverter(c)
	}

	backoff := dialBackoffStart
	for attempt := 1; ; attempt++ {
		attemptCtx, cancel := context.WithTimeout(ctx, dialAttemptTimeout)
		c, err := client.DialContext(attemptCtx, opts)
		cancel()
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("temporalx: dial %s (namespace %s): gave up after %d attempts: %w", address, namespace, attempt, err)
		}
		if logger != nil && attempt%10 == 0 {
			// Say something now and then so a misconfigured address is
			// visible without flooding the log while the server boots.
			logger.Warn("temporal frontend not answering yet", "address", address, "attempt", attempt, "error", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("temporalx: dial %s (namespace %s): gave up after %d attempts: %w", address, namespace, attempt, err)
		case <-t.C:
		}
		backoff = min(backoff*2, dialBackoffMax)
	}
}

// RegisterSearchAttributes makes sure every attribute in attrs exists on
// namespace with the given type. It is idempotent: attributes that already
// exist with the same type are left alone, and an "already exists" answer
// (another process registering concurrently, or an Elasticsearch cluster
// that reports it) counts as success. An attribute that exists with a
// different type is an error, because workflows would then write values the
// server rejects.
//
// It goes through the OperatorService, so it works the same against the
// embedded dev server and against an external cluster.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string, attrs map[string]enumspb.IndexedValueType) error {
	if len(attrs) == 0 {
		return nil
	}
	if namespace == "" {
		namespace = client.DefaultNamespace
	}
	op := c.OperatorService()
	list, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("temporalx: list search attributes of namespace %s: %w", namespace, err)
	}

	missing := make(map[string]enumspb.IndexedValueType)
	// Sorted so that error messages are stable.
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		want := attrs[name]
		if have, ok := list.GetCustomAttributes()[name]; ok {
			if have != want {
				return fmt.Errorf("temporalx: search attribute %s on namespace %s has type %s, want %s", name, namespace, have, want)
			}
			continue
		}
		if _, ok := list.GetSystemAttributes()[name]; ok {
			return fmt.Errorf("temporalx: search attribute %s is a Temporal system attribute; pick another name", name)
		}
		missing[name] = want
	}
	if len(missing) == 0 {
		return nil
	}

	_, err = op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("temporalx: add search attributes %v to namespace %s: %w", slices.Sorted(maps.Keys(missing)), namespace, err)
	}

	// Give the servers' namespace caches time to pick the change up before
	// anyone starts a workflow that uses the new attributes.
	t := time.NewTimer(searchAttributeSettle)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
