// Package deploy holds what it takes to run keytask: the container image, a
// docker-compose stack, Kubernetes manifests, Prometheus alert rules and Grafana
// dashboards, with the runbook in README.md. Its tests check them with the tools
// that consume them (promtool, docker-compose) and against the metric names and
// commands keytask really has.
package deploy
