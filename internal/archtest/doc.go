// Package archtest holds the import rules of Alertcast as a test: the arrows
// that must never appear in the package graph (docs/architecture.md draws
// the map). It has no code of its own.
package archtest
