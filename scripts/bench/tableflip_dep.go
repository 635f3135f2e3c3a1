//go:build tableflip

package main

// go mod tidy skips testdata, so this import keeps go.mod's requirement of
// cloudflare/tableflip, which testdata/server's tableflip build (the
// benchmark's tableflip contender, tableflip.go there) needs. Built only
// with -tags tableflip.
import _ "github.com/cloudflare/tableflip"
