// Command contactd is the contact center server: web chat and voice routed
// through skill-based queues to agents. Run `contactd --help` for settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/contactd/contactd/internal/app"
	"github.com/contactd/contactd/internal/config"
)

func main() {
	if err := run(); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "contactd:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load(os.Args[1:], os.Getenv)
	if err != nil {
		return err
	}
	log := cfg.Logger(os.Stderr)
	if err := servePprof(os.Getenv(pprofEnv), log); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		// Back to the default handling: a second signal ends the process at
		// once, whatever the drain is waiting for.
		stop()
	}()
	return app.Run(ctx, cfg, log, os.Stdout)
}
