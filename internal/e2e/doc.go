// Package e2e holds zedr-run's end-to-end tests, and nothing else: no code
// here is imported by anything. Each test runs the real zedr-run binary
// against real servers, with bounded load on loopback, tries what goes wrong
// in production and counts what was lost. TestMain builds zedr-run, the
// test servers (testdata/server, testdata/rawserver) and examples/keepconn
// once, with the race detector when the tests
// run with -race; the tests find examples/ and testdata/script at the module
// root.
//
// There is one file per row of the README's "Guarantees and how they are
// tested" table, named after its guarantee (restart_loses_no_request_test.go,
// broken_binary_never_takes_service_down_test.go, ...); script_test.go runs
// the CLI scenarios of testdata/script, which cover several rows; the
// harness_*_test.go files hold what the tests share. Fast unit tests of the
// command line stay in package main at the module root and build nothing.
//
// Run one test alone, with the figures it prints:
//
//	go test -race -run TestRestartUnderLoad -v ./internal/e2e
package e2e
