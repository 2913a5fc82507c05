package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	// The image has an empty base: no CA bundle. These Mozilla roots are used only when the
	// system has none (SSL_CERT_FILE and SSL_CERT_DIR still take precedence), so that the
	// web and Prometheus metric providers can reach HTTPS endpoints from the image.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/version"
)

// Set at link time by `make image` (hack/image) and the Dockerfile, next to
// internal/version.Version:
//
//	-X main.commit=<git sha> -X main.buildDate=<RFC 3339 UTC>
var (
	commit    = ""
	buildDate = ""
)

// buildInfo is what `vane version` prints.
type buildInfo struct {
	Version   string   `json:"version"`
	Commit    string   `json:"commit"`
	BuildDate string   `json:"buildDate"`
	GoVersion string   `json:"goVersion"`
	Platform  string   `json:"platform"`
	APIs      []apiSet `json:"apis"`
}

// apiSet is one API group/version the binary serves, with its kinds.
type apiSet struct {
	GroupVersion string   `json:"groupVersion"`
	Kinds        []string `json:"kinds"`
}

func newVersionCommand() *cobra.Command {
	var output string
	var short bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date, Go version and the API versions served",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := currentBuildInfo()
			if short {
				fmt.Fprintln(cmd.OutOrStdout(), info.Version)
				return nil
			}
			return printBuildInfo(cmd.OutOrStdout(), info, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: text)")
	cmd.Flags().BoolVar(&short, "short", false, "print the version only")
	return cmd
}

// currentBuildInfo reads what the linker stamped; without stamps (go build, go run) it falls
// back to the VCS settings Go records, and says "unknown" when there are none.
func currentBuildInfo() buildInfo {
	info := buildInfo{
		Version:   version.Version,
		Commit:    commit,
		BuildDate: buildDate,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
		APIs:      servedAPIs(),
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && info.Commit == "":
				info.Commit = s.Value
			case s.Key == "vcs.time" && info.BuildDate == "":
				info.BuildDate = s.Value
			}
		}
	}
	for _, f := range []*string{&info.Commit, &info.BuildDate} {
		if *f == "" {
			*f = "unknown"
		}
	}
	return info
}

// servedAPIs lists the kinds of Vane's API: every kind its scheme registers that has a List
// kind (the resources the CRDs define).
func servedAPIs() []apiSet {
	s := k8sruntime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil
	}
	known := s.KnownTypes(v1alpha1.GroupVersion)
	var kinds []string
	for kind := range known {
		if _, ok := known[kind+"List"]; ok && !strings.HasSuffix(kind, "List") {
			kinds = append(kinds, kind)
		}
	}
	sort.Strings(kinds)
	return []apiSet{{GroupVersion: v1alpha1.GroupVersion.String(), Kinds: kinds}}
}

func printBuildInfo(w io.Writer, info buildInfo, output string) error {
	switch output {
	case "json":
		b, err := json.MarshalIndent(info, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding the version: %w", err)
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	case "yaml":
		b, err := yaml.Marshal(info)
		if err != nil {
			return fmt.Errorf("encoding the version: %w", err)
		}
		_, err = w.Write(b)
		return err
	case "":
	default:
		return fmt.Errorf("unknown output format %q (want json or yaml)", output)
	}
	fmt.Fprintf(w, "vane: %s\n", info.Version)
	fmt.Fprintf(w, "  Commit:     %s\n", info.Commit)
	fmt.Fprintf(w, "  BuildDate:  %s\n", info.BuildDate)
	fmt.Fprintf(w, "  GoVersion:  %s\n", info.GoVersion)
	fmt.Fprintf(w, "  Platform:   %s\n", info.Platform)
	for _, a := range info.APIs {
		fmt.Fprintf(w, "  API:        %s (%s)\n", a.GroupVersion, strings.Join(a.Kinds, ", "))
	}
	return nil
}
