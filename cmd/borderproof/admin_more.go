package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/borderproof/borderproof/internal/user"
)

// adminExtraCommands are the operator commands for console users and
// Stripe billing; they share adminCmd's configuration (the database, plus
// the Stripe variables for billing).
func adminExtraCommands(withApp func(cmd *cobra.Command, fn func(a *app) error) error, printJSON func(cmd *cobra.Command, v any) error) []*cobra.Command {
	var insurerID, email, name, role, password string
	createUser := &cobra.Command{
		Use:   "create-user",
		Short: "Create a console user (the first admin of an insurer)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withApp(cmd, func(a *app) error {
				if err := a.ensureServices(cmd.Context(), Config{}); err != nil {
					return err
				}
				u, err := a.users.CreateUser(cmd.Context(), user.CreateUserInput{
					InsurerID: insurerID, Email: email, Name: name, Role: user.Role(strings.ToUpper(role)), Password: password,
				})
				if err != nil {
					return err
				}
				return printJSON(cmd, map[string]any{"id": u.ID, "email": u.Email, "role": u.Role})
			})
		},
	}
	createUser.Flags().StringVar(&insurerID, "insurer", "", "insurer id")
	createUser.Flags().StringVar(&email, "email", "", "sign-in e-mail")
	createUser.Flags().StringVar(&name, "name", "", "display name")
	createUser.Flags().StringVar(&role, "role", "ADMIN", "UNDERWRITER, FINANCE or ADMIN")
	createUser.Flags().StringVar(&password, "password", "", "initial password (at least 12 characters)")

	billingCmd := &cobra.Command{Use: "billing", Short: "Stripe billing set-up (BORDERPROOF_STRIPE_API_KEY)"}
	setup := &cobra.Command{
		Use:   "setup",
		Short: "Create or find the Billing Meters in Stripe",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withApp(cmd, func(a *app) error {
				if err := a.ensureServices(cmd.Context(), Config{}); err != nil {
					return err
				}
				lines, err := a.billing.Setup(cmd.Context())
				if err != nil {
					return err
				}
				return printJSON(cmd, lines)
			})
		},
	}
	syncCustomers := &cobra.Command{
		Use:   "sync-customers",
		Short: "Create a Stripe customer for every insurer that has none (idempotent)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withApp(cmd, func(a *app) error {
				if err := a.ensureServices(cmd.Context(), Config{}); err != nil {
					return err
				}
				insurers, err := a.store.Insurers(cmd.Context())
				if err != nil {
					return err
				}
				lines, err := a.billing.SyncCustomers(cmd.Context(), insurers)
				if err != nil {
					return err
				}
				return printJSON(cmd, lines)
			})
		},
	}
	var planInsurer, plan string
	setPlan := &cobra.Command{
		Use:   "set-plan",
		Short: "Put an insurer on a price plan",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withApp(cmd, func(a *app) error {
				if err := a.ensureServices(cmd.Context(), Config{}); err != nil {
					return err
				}
				if err := a.billing.SetPlan(cmd.Context(), planInsurer, plan); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "plan set")
				return nil
			})
		},
	}
	setPlan.Flags().StringVar(&planInsurer, "insurer", "", "insurer id")
	setPlan.Flags().StringVar(&plan, "plan", "standard", "plan id")
	billingCmd.AddCommand(setup, syncCustomers, setPlan)
	return []*cobra.Command{createUser, billingCmd}
}
