// Command zedr-load sends HTTP GET requests to a TCP or unix socket and prints
// a one-line summary (loadgen.Result.String). It exits 1 if any request
// failed, 2 on bad usage.
//
//	zedr-load -addr 127.0.0.1:8080 -n 10000 -c 16
//	zedr-load -network unix -addr /run/app.sock -d 30s -keepalive -bodies
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"zedr-run/internal/loadgen"
)

func main() {
	var cfg loadgen.Config
	flag.StringVar(&cfg.Network, "network", "tcp", "tcp, tcp4, tcp6 or unix")
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "host:port, or socket path with -network unix")
	flag.StringVar(&cfg.Path, "path", "/", "request path")
	flag.IntVar(&cfg.Concurrency, "c", 8, "concurrent workers")
	flag.IntVar(&cfg.MaxRequests, "n", 0, "stop after this many requests (0: no limit)")
	flag.DurationVar(&cfg.Duration, "d", 0, "stop after this long (0: no limit; -n or -d is required)")
	flag.BoolVar(&cfg.KeepAlive, "keepalive", false, "reuse connections (default: a new connection per request)")
	flag.DurationVar(&cfg.Timeout, "timeout", loadgenTimeout, "per-request timeout (dial+write+read)")
	bodies := flag.Bool("bodies", false, "also print the count of each distinct first line of the bodies")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "zedr-load: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	// SIGINT/SIGTERM stop the load early; the totals are still printed.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	r, err := loadgen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "zedr-load:", err)
		os.Exit(2)
	}
	fmt.Println(r)
	if *bodies {
		lines := make([]string, 0, len(r.Bodies))
		for l := range r.Bodies {
			lines = append(lines, l)
		}
		sort.Strings(lines)
		for _, l := range lines {
			fmt.Printf("%8d %q\n", r.Bodies[l], l)
		}
	}
	for _, e := range r.Errors {
		fmt.Fprintln(os.Stderr, "zedr-load: error:", e)
	}
	if r.Failed() > 0 {
		os.Exit(1)
	}
}

const loadgenTimeout = 5 * time.Second
