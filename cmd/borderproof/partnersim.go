package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/borderproof/borderproof/internal/partnersim"
)

// partnersimCmd runs the partner simulator standalone.
func partnersimCmd() *cobra.Command {
	var addr, tlsAddr, export, sdn, tlsDir, asOf, logLevel string
	var seed uint64
	var population int
	cmd := &cobra.Command{
		Use:   "partnersim",
		Short: "Run the partner simulator (sandbox)",
		Long: "Serves every partner protocol on loopback with a synthetic population of known truth,\n" +
			"the magic values of internal/partnersim/MAGIC.md, fault injection and a movable clock\n" +
			"(admin endpoint under /admin). Workers send test-mode checks to it through\n" +
			"BORDERPROOF_PARTNERSIM_URL.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, ok := levelOK(logLevel); !ok {
				return fmt.Errorf("--log-level must be debug, info, warn or error")
			}
			cfg := partnersim.Config{Addr: addr, TLSAddr: tlsAddr, Seed: seed, Population: population,
				ExportFile: export, SDNDir: sdn, TLSDir: tlsDir}
			if asOf != "" {
				t, err := time.Parse(time.DateOnly, asOf)
				if err != nil {
					return fmt.Errorf("--as-of must be a date YYYY-MM-DD")
				}
				cfg.AsOf = t
			}
			if population < 0 {
				return fmt.Errorf("--population must not be negative")
			}
			if population == 0 {
				cfg.Population = -1 // magic values only
			}
			log := newLogger(logLevel)
			sim, err := partnersim.New(cfg, log)
			if err != nil {
				return err
			}
			if export != "" {
				if err := writeExport(export, sim.Population()); err != nil {
					return err
				}
			}
			if err := sim.Start(cmd.Context()); err != nil {
				return err
			}
			u := sim.URLs()
			fmt.Fprintf(cmd.OutOrStdout(), "partner simulator\n  http:  %s\n  mtls:  %s\n  admin: %s\n", u.HTTP, u.TLS, u.Admin)
			<-cmd.Context().Done()
			return sim.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8181", "plain HTTP listener (every protocol but border movements, and /admin)")
	f.StringVar(&tlsAddr, "tls-addr", "127.0.0.1:8182", "mutual-TLS listener (border movements)")
	f.Uint64Var(&seed, "seed", 1, "population seed")
	f.IntVar(&population, "population", partnersim.DefaultPopulation, "synthetic people (0: magic values only)")
	f.StringVar(&export, "export", "", "write the population with its ground truth to FILE (JSON lines)")
	f.StringVar(&sdn, "sdn", "", "load an OFAC SDN list (sdn.csv, alt.csv, add.csv) from DIR instead of the embedded one")
	f.StringVar(&tlsDir, "tls-dir", "var/partnersim", "write the CA bundle and client certificate here")
	f.StringVar(&asOf, "as-of", "", "the population's reference date (default today)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func writeExport(path string, pop *partnersim.Population) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--export: %w", err)
	}
	if err := partnersim.WriteExport(f, pop); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
