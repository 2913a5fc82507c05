// Command helmtool renders and lints charts/vane with the Helm 4 library, as `helm template`
// and `helm lint` do, for the tests and the Makefile (`make chart-lint`, `make chart-template`).
//
// It is its own module because Helm 4 needs newer Kubernetes libraries than Vane's module
// uses; `make helm-tool` builds it once into ~/.cache/vane (charts/helmtool/install.sh).
//
//	helmtool template -chart charts/vane [-name vane] [-namespace vane-system] [-f values.yaml]... [-set k=v]... [-notes FILE]
//	helmtool lint     -chart charts/vane [-f values.yaml]... [-set k=v]...
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

func main() {
	// Helm logs each symbolic link it follows at info level; files/ links to config/
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "helmtool:", err)
		os.Exit(1)
	}
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// options are the flags both commands share.
type options struct {
	chart, name, namespace, kubeVersion, notes string
	valueFiles, sets                           stringList
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: helmtool template|lint -chart DIR [-f values.yaml]... [-set k=v]...")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	o := &options{}
	fs.StringVar(&o.chart, "chart", "charts/vane", "the chart's folder")
	fs.StringVar(&o.name, "name", "vane", "release name")
	fs.StringVar(&o.namespace, "namespace", "vane-system", "release namespace")
	fs.StringVar(&o.kubeVersion, "kube-version", "", "Kubernetes version the chart is rendered for (default: Helm's)")
	fs.StringVar(&o.notes, "notes", "", "template: also write the rendered NOTES.txt to this file")
	fs.Var(&o.valueFiles, "f", "values file (repeatable)")
	fs.Var(&o.sets, "set", "KEY=VALUE as helm --set (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "template":
		return template(o, out)
	case "lint":
		return lint(o, out)
	}
	return fmt.Errorf("unknown command %q: want template or lint", args[0])
}
