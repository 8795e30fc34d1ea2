// Package testenv holds helpers that tests of several packages share: a
// cached venv of Python tools from PyPI, and a real pypiserver package
// index on loopback. It imports "testing" and is meant for _test.go files
// only; nothing outside tests should import it.
package testenv
