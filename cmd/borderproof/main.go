// Command borderproof is the one binary: dev | api | worker | migrate | admin.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "borderproof",
		Short:         "Cross-border identity and travel-document verification for insurers",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(devCmd(), apiCmd(), workerCmd(), migrateCmd(), adminCmd(), partnersimCmd(), benchCmd(), healthcheckCmd(), evidenceCmd())
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "borderproof:", err)
		os.Exit(1)
	}
}
