package main

import "github.com/spf13/cobra"

// partnersimCmd runs the partner simulator standalone.
func partnersimCmd() *cobra.Command {
	return &cobra.Command{Use: "partnersim", Short: "Run the partner simulator (sandbox)"}
}
