package plugin

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

// ConfigMapName is the ConfigMap, in the controller's namespace, whose data lists the plugins
// (the name Argo Rollouts reads).
const ConfigMapName = "argo-rollouts-config"

// Kind is a kind of plugin: it says which ConfigMap key lists it and which handshake and RPC
// interface its binary serves.
type Kind string

// The kinds of plugins.
const (
	// MetricProvider plugins take measurements for AnalysisRuns (metric provider "plugin").
	MetricProvider Kind = "MetricProvider"
	// TrafficRouter plugins split traffic for Rollouts (trafficRouting.plugins).
	TrafficRouter Kind = "TrafficRouter"
	// Step plugins run canary steps (steps[].plugin).
	Step Kind = "Step"
)

// Kinds lists every kind, in the order Argo Rollouts reads the ConfigMap's keys.
var Kinds = []Kind{TrafficRouter, MetricProvider, Step}

// kindInfo is what tells the kinds apart: the ConfigMap key, the magic cookie value of the
// handshake, the name the plugin's RPC server is dispensed under, and a label for messages.
type kindInfo struct{ key, cookie, dispense, label string }

var kinds = map[Kind]kindInfo{
	MetricProvider: {"metricProviderPlugins", "metricprovider", "RpcMetricProviderPlugin", "metric provider"},
	TrafficRouter:  {"trafficRouterPlugins", "trafficrouter", "RpcTrafficRouterPlugin", "traffic router"},
	Step:           {"stepPlugins", "step", "RpcStepPlugin", "step"},
}

// ConfigKey is the key of the ConfigMap's data that lists the plugins of kind k.
func (k Kind) ConfigKey() string { return kinds[k].key }

// Item is one plugin entry of the ConfigMap, with Argo Rollouts' fields.
type Item struct {
	// Kind is the list the entry was read from.
	Kind Kind `json:"-"`
	// Name is how Rollouts and AnalysisTemplates refer to the plugin: "<namespace>/<name>".
	Name string `json:"name"`
	// Location is where the binary is: file://<path> or http(s)://<url>.
	Location string `json:"location"`
	// Sha256 is the hex SHA-256 checksum of the binary; when set, a binary that does not
	// match is refused.
	Sha256 string `json:"sha256,omitempty"`
	// Args are the plugin process's command-line arguments.
	Args []string `json:"args,omitempty"`
	// Disabled turns a step plugin off: its steps complete at once without running it.
	Disabled bool `json:"disabled,omitempty"`
	// HeadersFrom names Secrets (in the controller's namespace) whose data is sent as HTTP
	// headers when the binary is downloaded (e.g. Authorization).
	HeadersFrom []HeadersFrom `json:"headersFrom,omitempty"`
}

// HeadersFrom names a Secret whose keys and values are HTTP request headers.
type HeadersFrom struct {
	// SecretRef is the Secret.
	SecretRef SecretRef `json:"secretRef"`
}

// SecretRef names a Secret in the controller's namespace.
type SecretRef struct {
	// Name of the Secret.
	Name string `json:"name"`
}

// Entry is an Item with the reason it cannot be used, if any.
type Entry struct {
	Item
	// Err says why the entry cannot be used (nil: it can).
	Err error
}

// Config is what the ConfigMap lists.
type Config struct {
	// Entries are the plugin entries, usable or not.
	Entries []Entry
	// ListErrs holds, per kind, why its list could not be read at all: every plugin of that
	// kind is then unusable.
	ListErrs map[Kind]error
}

// nameRE is the form of a plugin name: "<namespace>/<name>", as Argo Rollouts requires.
var nameRE = regexp.MustCompile(`^([a-zA-Z0-9-]+)/([a-zA-Z0-9_.-]+)$`)

// shaRE is a SHA-256 checksum in hex.
var shaRE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// ParseConfig reads the plugin lists of the ConfigMap's data. An entry that cannot be used is
// kept with the reason; a list that cannot be parsed makes its whole kind unusable.
func ParseConfig(data map[string]string) Config {
	cfg := Config{ListErrs: map[Kind]error{}}
	for _, k := range Kinds {
		raw := strings.TrimSpace(data[k.ConfigKey()])
		if raw == "" {
			continue
		}
		var items []Item
		if err := yaml.Unmarshal([]byte(raw), &items); err != nil {
			cfg.ListErrs[k] = fmt.Errorf("the ConfigMap's %s is not a list of plugins: %w", k.ConfigKey(), err)
			continue
		}
		seen := map[string]bool{}
		for i, it := range items {
			it.Kind = k
			err := checkItem(it, fmt.Sprintf("%s[%d]", k.ConfigKey(), i))
			if err == nil && seen[it.Name] {
				err = fmt.Errorf("%s[%d]: the plugin %q is listed twice", k.ConfigKey(), i, it.Name)
			}
			seen[it.Name] = true
			cfg.Entries = append(cfg.Entries, Entry{Item: it, Err: err})
		}
	}
	return cfg
}

// checkItem returns an error naming the field of an entry that cannot be used.
func checkItem(it Item, at string) error {
	if _, _, err := splitName(it.Name); err != nil {
		return fmt.Errorf("%s.name: %w", at, err)
	}
	if it.Location == "" {
		return fmt.Errorf("%s.location: required (file://<path> or http(s)://<url>)", at)
	}
	u, err := url.Parse(it.Location)
	if err != nil {
		return fmt.Errorf("%s.location: not a URL", at)
	}
	switch u.Scheme {
	case "file":
		if u.Host+u.Path == "" {
			return fmt.Errorf("%s.location: %s names no file", at, u.Redacted())
		}
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("%s.location: %s names no host", at, u.Redacted())
		}
	default:
		return fmt.Errorf("%s.location: the scheme must be file, http or https, not %q", at, u.Scheme)
	}
	if it.Sha256 != "" && !shaRE.MatchString(it.Sha256) {
		return fmt.Errorf("%s.sha256: must be 64 hexadecimal digits (a SHA-256 checksum)", at)
	}
	for j, h := range it.HeadersFrom {
		if h.SecretRef.Name == "" {
			return fmt.Errorf("%s.headersFrom[%d].secretRef.name: required", at, j)
		}
	}
	return nil
}

// splitName splits "<namespace>/<name>" into its parts, which are also the folder and file
// name of the binary in the cache.
func splitName(name string) (string, string, error) {
	m := nameRE.FindStringSubmatch(name)
	if m == nil {
		return "", "", fmt.Errorf("%q must be of the form <namespace>/<name> (letters, digits, '-'; the name also '_' and '.')", name)
	}
	if m[2] == "." || m[2] == ".." {
		return "", "", errors.New("the name part cannot be '.' or '..'")
	}
	return m[1], m[2], nil
}
