// Package version reports the build's version, set at link time:
//
//	go build -ldflags "-X github.com/vanedev/vane/internal/version.Version=v0.1.0" ./cmd/vane
package version

import "runtime/debug"

// Version is the release version; "dev" for a local build.
var Version = "dev"

// String returns the version and, when known, the VCS revision the binary was built from.
func String() string {
	v := Version
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	return v
}
