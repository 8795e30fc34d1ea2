// Package delivery holds the server-side steps of continuous deployment that touch bytes and the
// outside world: making a release from the artifacts a run uploaded (with provenance), checking a
// release's files against the digests it recorded before they are deployed, and running an
// environment's verification (an HTTP smoke check or a command) after a deployment.
package delivery
