package main

import "testing"

// The expected value is GitHub's documented example for validating webhook
// deliveries (secret "It's a Secret to Everybody", payload "Hello, World!").
func TestSignature(t *testing.T) {
	got := signature("It's a Secret to Everybody", []byte("Hello, World!"))
	want := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got != want {
		t.Errorf("signature = %s, want %s", got, want)
	}
}
