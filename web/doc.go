// Package web holds the browser tests of keytask's pages: Chromium, driven
// headless through the DevTools protocol, goes through the main journeys of
// ministry staff, provinces, experts and the public on a running platform
// (Postgres, an embedded Temporal server, the worker, the projector and the
// HTTP server), and keeps a screenshot of every page it sees. The pages
// themselves are served by package api.
package web
