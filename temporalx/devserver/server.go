// Package devserver runs a complete Temporal server inside the keytask
// process for `keytask dev`: frontend, history, matching and worker services
// on SQLite (modernc, no cgo), plus the Temporal Web UI.
//
// Unlike go.temporal.io/server/temporaltest, which is memory-only with a
// random namespace and port, this server persists to DataDir/temporal.db, so
// stopping and starting keytask dev resumes the workflows that were running.
// The configuration follows the shape of the Temporal CLI's dev server
// (single shard, static membership, SQLite for both stores).
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"keytask/temporalx"
)

const (
	// DBFile is the name of the SQLite database inside Options.DataDir.
	DBFile = "temporal.db"

	// clusterName names the single cluster. It is persisted in the
	// database's cluster metadata on first start, so it must never change.
	clusterName = "active"

	// namespaceRetention is how long closed workflows stay visible. The
	// CLI's dev server uses one day; a week lets a developer look back at
	// last week's runs in the UI.
	namespaceRetention = 7 * 24 * time.Hour

	// uiStartTimeout bounds the wait for the Web UI to answer its health
	// check after it was started.
	uiStartTimeout = 10 * time.Second
)

// stoppedFrontends holds the frontend addresses of servers this process
// stopped. Temporal v1.32 does not stop some SDK workers of its internal
// worker service (scanners, parent-close-policy: "TODO: Nothing is
// gracefully stopping these workers" in service/worker/scanner); they keep
// retrying the old frontend address until the process exits. Harmless on a
// dead address, but a new server on the same address would get polled by
// them, so Start warns about it.
var stoppedFrontends sync.Map

// Options configure Start.
type Options struct {
	// DataDir holds the SQLite database (DataDir/temporal.db). It is created
	// if missing. Only one server may use a DataDir at a time; nothing but
	// the fixed frontend port of `keytask dev` guards against a second one.
	//
	// Empty runs on an in-memory database, which suits tests. Its data is
	// gone after Stop, but not its memory: Temporal's SQLite plugin never
	// closes a connection it opened, so each in-memory start costs a few MB
	// until the process exits.
	DataDir string
	// FrontendAddr is the host:port the frontend gRPC API listens on, e.g.
	// "127.0.0.1:7233". Empty, or port 0, picks a free port on 127.0.0.1
	// (or on the given host).
	FrontendAddr string
	// UIAddr is the host:port the Temporal Web UI listens on, e.g.
	// "127.0.0.1:8233". Empty disables the UI; port 0 picks a free port.
	UIAddr string
	// CodecEndpoint is the codec server the UI decodes payloads through (its
	// …/decode); the browser sends the user's cookies with each request.
	// Empty shows payloads as stored.
	CodecEndpoint string
	// Namespace is created at start if missing. Default "default".
	Namespace string
	// SearchAttributes are custom search attributes registered on Namespace
	// at every start (adding any that a previous start did not know).
	SearchAttributes map[string]enumspb.IndexedValueType
	// Logger receives the server's warnings and errors (and everything, if
	// it has debug enabled). Default slog.Default().
	Logger *slog.Logger
}

// Server is a running embedded Temporal server.
type Server struct {
	temporal     temporal.Server
	ui           *uiserver.Server
	uiURL        string
	frontendAddr string
	logger       *slog.Logger
	serverLog    serverLogger

	stopOnce sync.Once
	stopErr  error
}

// Start starts the server and returns once every service is up, the
// namespace exists with its search attributes, and the UI (if enabled)
// answers HTTP. ctx bounds the waits; the server itself runs until Stop.
//
// Temporal's own log goes to o.Logger at warn level and above, or at every
// level if o.Logger has debug enabled.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}

	host, port, err := resolveAddr(o.FrontendAddr)
	if err != nil {
		return nil, fmt.Errorf("devserver: frontend address %q: %w", o.FrontendAddr, err)
	}
	// Fail early and clearly on a busy port: the server itself would only
	// log a fatal error deep inside its dependency injection.
	if err := checkFree(host, port); err != nil {
		return nil, fmt.Errorf("devserver: frontend address %s is in use (is another keytask dev or Temporal server running?): %w", net.JoinHostPort(host, strconv.Itoa(port)), err)
	}
	// The other services are internal: they listen on the frontend's host
	// when it is a specific address, on loopback when the frontend listens
	// on all interfaces, and never on a fixed port.
	internalHost := host
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		internalHost = "127.0.0.1"
	}
	frontendAddr := net.JoinHostPort(internalHost, strconv.Itoa(port))

	var uiHost string
	var uiPort int
	if o.UIAddr != "" {
		if uiHost, uiPort, err = resolveAddr(o.UIAddr); err != nil {
			return nil, fmt.Errorf("devserver: UI address %q: %w", o.UIAddr, err)
		}
		if err := checkFree(uiHost, uiPort); err != nil {
			return nil, fmt.Errorf("devserver: UI address %s is in use: %w", net.JoinHostPort(uiHost, strconv.Itoa(uiPort)), err)
		}
	}
	if _, ok := stoppedFrontends.Load(frontendAddr); ok {
		o.Logger.Warn("restarting the Temporal dev server on a frontend address a stopped server of this process used; "+
			"Temporal never stops that server's internal system workers, which will now poll this one. Use a new port or a new process.",
			"address", frontendAddr)
	}

	sqlConf, err := prepareDatabase(o)
	if err != nil {
		return nil, err
	}

	conf, err := buildConfig(host, internalHost, port, sqlConf)
	if err != nil {
		return nil, err
	}
	logger := newServerLogger(o.Logger)
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("devserver: authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("devserver: claim mapper: %w", err)
	}

	// Every service, the frontend included, is reachable on internalHost
	// whatever address it binds to.
	staticHosts := make(map[primitives.ServiceName]static.Hosts, len(conf.Services))
	for name, svc := range conf.Services {
		staticHosts[primitives.ServiceName(name)] = static.SingleLocalHost(net.JoinHostPort(internalHost, strconv.Itoa(svc.RPC.GRPCPort)))
	}

	var srv temporal.Server
	err = catchFatal(func() (err error) {
		srv, err = temporal.NewServer(
			temporal.WithConfig(conf),
			temporal.ForServices(temporal.DefaultServices),
			// Static membership: one process hosts every service, so there is
			// no need for ringpop gossip (and its extra ports and join delay).
			temporal.WithStaticHosts(staticHosts),
			temporal.WithLogger(logger),
			temporal.WithAuthorizer(authorizer),
			temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
			temporal.WithDynamicConfigClient(dynamicConfig()),
		)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("devserver: create temporal server: %w", err)
	}
	if err := catchFatal(srv.Start); err != nil {
		return nil, fmt.Errorf("devserver: start temporal server: %w", err)
	}
	s := &Server{temporal: srv, frontendAddr: frontendAddr, logger: o.Logger, serverLog: logger}

	// Register the search attributes through the API as well: the namespace
	// was created with them on first start, but a later keytask version may
	// bring new ones, and creating the namespace is a no-op once it exists.
	if err := s.registerSearchAttributes(ctx, o); err != nil {
		return nil, errors.Join(err, s.Stop())
	}

	if o.UIAddr != "" {
		if err := s.startUI(ctx, uiHost, uiPort, o.Namespace, o.CodecEndpoint); err != nil {
			return nil, errors.Join(err, s.Stop())
		}
	}
	return s, nil
}

// FrontendAddr is the host:port of the frontend gRPC API, for client.Dial.
func (s *Server) FrontendAddr() string { return s.frontendAddr }

// UIURL is the Web UI's base URL, or "" if the UI is disabled.
func (s *Server) UIURL() string { return s.uiURL }

// Stop stops the UI and the server. Running workflows are not affected
// beyond pausing: with a DataDir they resume on the next Start. Calling Stop
// again returns the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.serverLog.silence()
		if s.ui != nil {
			s.ui.Stop()
		}
		if err := s.temporal.Stop(); err != nil {
			s.stopErr = fmt.Errorf("devserver: stop temporal server: %w", err)
		}
		stoppedFrontends.Store(s.frontendAddr, true)
	})
	return s.stopErr
}

func (s *Server) registerSearchAttributes(ctx context.Context, o Options) error {
	if len(o.SearchAttributes) == 0 {
		return nil
	}
	c, err := temporalx.Dial(ctx, s.frontendAddr, o.Namespace, o.Logger, nil)
	if err != nil {
		return fmt.Errorf("devserver: %w", err)
	}
	defer c.Close()
	if err := temporalx.RegisterSearchAttributes(ctx, c, o.Namespace, o.SearchAttributes); err != nil {
		return fmt.Errorf("devserver: %w", err)
	}
	return nil
}

// prepareDatabase returns the SQLite persistence config. For a file database
// it sets the schema up when the file does not exist yet, and in every case
// it makes sure the namespace exists (with its search attributes mapped to
// the preallocated custom columns).
func prepareDatabase(o Options) (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if o.DataDir == "" {
		// A shared cache lets every service's connection see the same
		// in-memory database; the random name keeps parallel tests apart.
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		conf.DatabaseName = "keytask-dev-" + strconv.FormatUint(rand.Uint64(), 36)
	} else {
		if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("devserver: data dir: %w", err)
		}
		path, err := filepath.Abs(filepath.Join(o.DataDir, DBFile))
		if err != nil {
			return nil, fmt.Errorf("devserver: data dir: %w", err)
		}
		conf.ConnectAttributes = map[string]string{"mode": "rwc"}
		conf.DatabaseName = path
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if err := setupSchema(path); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, fmt.Errorf("devserver: database file: %w", err)
		}
	}

	ns, err := sqliteschema.NewNamespaceConfig(clusterName, o.Namespace, false, o.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("devserver: namespace %s: %w", o.Namespace, err)
	}
	ns.Detail.Config.Retention = durationpb.New(namespaceRetention)
	if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
		return nil, fmt.Errorf("devserver: create namespace %s: %w", o.Namespace, err)
	}
	return conf, nil
}

// setupSchema creates the Temporal schema in a new database at path. It
// builds the database under a temporary name and renames it into place, so
// that a setup interrupted half way (Ctrl-C, crash) never leaves a
// half-initialised temporal.db that the next start would take as ready.
func setupSchema(path string) error {
	tmp := path + ".setup"
	for _, f := range []string{tmp, tmp + "-journal"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("devserver: remove leftover %s: %w", f, err)
		}
	}
	conf := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		DatabaseName:      tmp,
		ConnectAttributes: map[string]string{"mode": "rwc"},
	}
	if err := sqliteschema.SetupSchema(conf); err != nil {
		return fmt.Errorf("devserver: set up sqlite schema in %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("devserver: move new database into place: %w", err)
	}
	return nil
}

// buildConfig builds the static server config: one history shard, every
// service on its own free port, archival off, SQLite for both the default
// and the visibility store.
func buildConfig(bindHost, internalHost string, frontendPort int, sqlConf *config.SQL) (*config.Config, error) {
	const store = "sqlite-default"
	frontendAddr := net.JoinHostPort(internalHost, strconv.Itoa(frontendPort))
	// The frontend's HTTP API (and the Nexus endpoints on it) needs a port
	// too; without one the server warns at every start.
	httpPort, err := freePort(bindHost)
	if err != nil {
		return nil, fmt.Errorf("devserver: port for frontend HTTP API: %w", err)
	}

	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = internalHost
	conf.Persistence.DefaultStore = store
	conf.Persistence.VisibilityStore = store
	// One shard: a dev server has one SQLite writer anyway, and the shard
	// count is fixed in the database forever once chosen.
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{store: {SQL: sqlConf}}
	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontendAddr,
				HTTPAddress:            net.JoinHostPort(internalHost, strconv.Itoa(httpPort)),
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"

	conf.Services = map[string]config.Service{
		string(primitives.FrontendService): {RPC: config.RPC{GRPCPort: frontendPort, HTTPPort: httpPort, BindOnIP: bindHost}},
	}
	for _, name := range []primitives.ServiceName{primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		p, err := freePort(internalHost)
		if err != nil {
			return nil, fmt.Errorf("devserver: port for %s service: %w", name, err)
		}
		conf.Services[string(name)] = config.Service{RPC: config.RPC{GRPCPort: p, BindOnIP: internalHost}}
	}

	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	// The worker service (schedules, batch operations, ...) talks to the
	// frontend through an SDK client; the server panics at start without it.
	conf.PublicClient.HostPort = frontendAddr
	return &conf, nil
}

// dynamicConfig returns the dynamic config overrides for a dev server.
func dynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		// Keep more workflows' mutable state in memory; the dev server has
		// one history host, so it may as well use it.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): 8096,
		// The Web UI lists and counts workflows on every page; the default
		// visibility rate limit makes it stutter.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
	}
}

// startUI serves the Temporal Web UI in-process.
func (s *Server) startUI(ctx context.Context, host string, port int, namespace, codecEndpoint string) error {
	// ui-server's Start calls its logger's Fatal (os.Exit) when it cannot
	// listen, which would kill keytask. Check that the port is free first,
	// so a busy port becomes an error here instead. (A tiny race remains.)
	if err := checkFree(host, port); err != nil {
		return fmt.Errorf("devserver: UI address %s is in use: %w", net.JoinHostPort(host, strconv.Itoa(port)), err)
	}

	s.ui = uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                host,
		Port:                port,
		TemporalGRPCAddress: s.frontendAddr,
		EnableUI:            true,
		DefaultNamespace:    namespace,
		// Plain HTTP on localhost: the CSRF cookie must not require TLS.
		CORS:     uiconfig.CORS{CookieInsecure: true},
		HideLogs: true,
		// keytask dev may run offline; do not fetch Temporal's news feed.
		DisableNewsFetch: true,
		Codec:            uiconfig.Codec{Endpoint: codecEndpoint, IncludeCredentials: true},
	}))
	go func() {
		if err := s.ui.Start(); err != nil {
			s.logger.Error("temporal web UI stopped", "error", err)
		}
	}()

	browseHost := host
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		browseHost = "127.0.0.1"
	}
	s.uiURL = "http://" + net.JoinHostPort(browseHost, strconv.Itoa(port))
	return waitHTTP(ctx, s.uiURL+"/healthz", uiStartTimeout)
}

// waitHTTP polls url until it answers 200, ctx ends or timeout passes.
func waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("devserver: web UI at %s did not come up: %w", url, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// resolveAddr splits host:port, defaulting the host to 127.0.0.1 and
// replacing port 0 (or a missing address) with a free port.
func resolveAddr(addr string) (string, int, error) {
	host, portStr := "127.0.0.1", "0"
	if addr != "" {
		var err error
		if host, portStr, err = net.SplitHostPort(addr); err != nil {
			return "", 0, err
		}
		if host == "" {
			host = "127.0.0.1"
		}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", portStr)
	}
	if port == 0 {
		if port, err = freePort(host); err != nil {
			return "", 0, err
		}
	}
	return host, port, nil
}

// freePort asks the kernel for a free TCP port on host. The port is released
// before the server binds it, which is racy in principle but is what every
// embedded Temporal (CLI, temporaltest) does: the server wants port numbers
// in its config, not listeners.
//
// The kernel may hand a just-released port out again, so a port this process
// has already been given is never returned twice: the UI's port, picked first,
// could otherwise become one of the server's internal ports before the UI
// binds it.
func freePort(host string) (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if _, given := portsGiven.LoadOrStore(port, struct{}{}); !given {
			return port, nil
		}
	}
	return 0, errors.New("devserver: no free port that this process has not used already")
}

// portsGiven holds every port freePort has returned in this process.
var portsGiven sync.Map

// checkFree reports whether host:port can be listened on right now.
func checkFree(host string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}
