// Package scenarios holds end-to-end tests that drive whole processes of keytask
// against a real Temporal server (embedded) and a real Postgres, the way the
// ministry and the provinces would, and check the read models against
// independent computations.
package scenarios
