package main

import "github.com/spf13/cobra"

// benchCmd groups the load and quality harnesses.
func benchCmd() *cobra.Command {
	return &cobra.Command{Use: "bench", Short: "Load, pipeline and quality harnesses"}
}
