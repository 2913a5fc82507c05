package main

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/vanedev/vane/internal/notify"
)

// toolFlags are the settings shared by the `vane notifications` commands.
type toolFlags struct {
	configNamespace, configMapPath, secretPath string
}

func newNotificationsCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	f := &toolFlags{}
	cmd := &cobra.Command{
		Use:   "notifications",
		Short: "Show the notification triggers and templates and try them on a rollout",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.configNamespace, "notifications-namespace", "", "namespace of "+notify.ConfigMapName+" and "+notify.SecretName+" (default: -n)")
	pf.StringVar(&f.configMapPath, "config-map", "", "read "+notify.ConfigMapName+" from this YAML file")
	pf.StringVar(&f.secretPath, "secret", "", "read "+notify.SecretName+" from this YAML file")
	template := &cobra.Command{Use: "template", Short: "Notification templates"}
	template.AddCommand(newTemplateGetCommand(cf, f), newTemplateNotifyCommand(cf, f))
	trigger := &cobra.Command{Use: "trigger", Short: "Notification triggers"}
	trigger.AddCommand(newTriggerGetCommand(cf, f), newTriggerRunCommand(cf, f))
	cmd.AddCommand(template, trigger)
	return cmd
}

// tool builds the notifications tool from the connection flags.
func tool(cmd *cobra.Command, cf *genericclioptions.ConfigFlags, f *toolFlags) (*notify.Tool, error) {
	o, err := options(cmd, cf)
	if err != nil {
		return nil, err
	}
	t := &notify.Tool{Client: o.Client, Namespace: o.Namespace, ConfigNamespace: f.configNamespace,
		ConfigMapPath: f.configMapPath, SecretPath: f.secretPath, Out: o.Out, Err: o.Err}
	if t.ConfigNamespace == "" {
		t.ConfigNamespace = o.Namespace
	}
	return t, nil
}

func newTemplateGetCommand(cf *genericclioptions.ConfigFlags, f *toolFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use: "get [NAME]", Short: "Print the templates (the built-in ones under the ConfigMap's)", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := tool(cmd, cf, f)
			if err != nil {
				return err
			}
			return t.TemplateGet(cmd.Context(), firstArg(args), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "wide", "output format: wide, name, json or yaml")
	return cmd
}

func newTemplateNotifyCommand(cf *genericclioptions.ConfigFlags, f *toolFlags) *cobra.Command {
	var recipients []string
	cmd := &cobra.Command{
		Use:   "notify NAME ROLLOUT",
		Short: "Render a template for a rollout (a name, or a YAML file) and send it to the recipients",
		Example: `  vane notifications template notify rollout-completed my-app                          # print it
  vane notifications template notify rollout-completed my-app --recipient slack:deploys`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := tool(cmd, cf, f)
			if err != nil {
				return err
			}
			return t.TemplateNotify(cmd.Context(), args[0], args[1], recipients)
		},
	}
	cmd.Flags().StringArrayVar(&recipients, "recipient", []string{"console:stdout"}, "service:recipient to send to (repeatable)")
	return cmd
}

func newTriggerGetCommand(cf *genericclioptions.ConfigFlags, f *toolFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use: "get [NAME]", Short: "Print the triggers (the built-in ones under the ConfigMap's)", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := tool(cmd, cf, f)
			if err != nil {
				return err
			}
			return t.TriggerGet(cmd.Context(), firstArg(args), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "wide", "output format: wide, name, json or yaml")
	return cmd
}

func newTriggerRunCommand(cf *genericclioptions.ConfigFlags, f *toolFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "run TRIGGER ROLLOUT",
		Short: "Evaluate a trigger's conditions on a rollout (a name, or a YAML file) and print the results",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := tool(cmd, cf, f)
			if err != nil {
				return err
			}
			return t.TriggerRun(cmd.Context(), args[0], args[1])
		},
	}
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}
