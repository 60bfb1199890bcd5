package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// healthcheckCmd probes a URL and exits non-zero unless it answers 2xx, so
// container health checks work in an image without a shell.
func healthcheckCmd() *cobra.Command {
	var url string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when --url answers 2xx (container health checks)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := &http.Client{Timeout: timeout}
			res, err := c.Get(url)
			if err != nil {
				return err
			}
			res.Body.Close()
			if res.StatusCode < 200 || res.StatusCode > 299 {
				return fmt.Errorf("%s answered %d", url, res.StatusCode)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:8080/healthz", "URL to probe")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after")
	return cmd
}
