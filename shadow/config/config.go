// Package config reads shadow.yaml (contracts §5): stores and catalogs, the
// state database, the datasets (inline or a path to a datasets file),
// alerting and serve settings. Command-line flags override it; the merge
// happens in cmd/shadow.
//
// Unknown keys are errors: a typo in a nightly job's config must fail loudly
// rather than silently fall back to a default.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// ErrInvalid marks a config file that cannot be used (exit code 2).
var ErrInvalid = errors.New("invalid config")

// Iceberg names where one side's tables live.
type Iceberg struct {
	Catalog   string `yaml:"catalog"`
	Warehouse string `yaml:"warehouse"`
}

// S3 holds the endpoint settings shared by object stores and S3 warehouses.
type S3 struct {
	Endpoint  string `yaml:"endpoint"`
	PathStyle bool   `yaml:"path_style"`
	Region    string `yaml:"region"`
}

// Store is a named backup store.
type Store struct {
	URI     string `yaml:"uri"`
	Layout  string `yaml:"layout"`  // medusa | priam | "" (detect)
	Cluster string `yaml:"cluster"` // Priam app name or Medusa prefix
}

// Alerting says where the runner sends alerts and metrics of one-shot runs.
type Alerting struct {
	Alertmanager string            `yaml:"alertmanager"`
	Webhook      string            `yaml:"webhook"`
	Pushgateway  string            `yaml:"pushgateway"`
	RunbookURL   string            `yaml:"runbook_url"`
	Labels       map[string]string `yaml:"labels"`
}

// Serve configures the daemon.
type Serve struct {
	Listen      string `yaml:"listen"`
	Concurrency int    `yaml:"concurrency"`
	Token       string `yaml:"token"` // bearer token for the decider API; empty = no auth
}

// Config is the whole of shadow.yaml.
type Config struct {
	// Path is the file the config was read from ("" when none).
	Path string `yaml:"-"`

	DB       string           `yaml:"db"`
	Iceberg  Iceberg          `yaml:"iceberg"`
	Legacy   Iceberg          `yaml:"legacy"`
	New      Iceberg          `yaml:"new"`
	S3       S3               `yaml:"s3"`
	Stores   map[string]Store `yaml:"stores"`
	Alerting Alerting         `yaml:"alerting"`
	Serve    Serve            `yaml:"serve"`
	Decider  yaml.Node        `yaml:"decider"`
	Defaults yaml.Node        `yaml:"defaults"`

	// Datasets is either a path (scalar) or an inline list; the shadow
	// package decodes it.
	Datasets yaml.Node `yaml:"datasets"`
}

// Find returns the config path to use: explicit (from --config), then
// $SHADOW_CONFIG, then ./shadow.yaml if it exists, else "".
func Find(explicit string) string {
	if explicit != "" {
		return explicit
	}
	if env := os.Getenv("SHADOW_CONFIG"); env != "" {
		return env
	}
	if _, err := os.Stat("shadow.yaml"); err == nil {
		return "shadow.yaml"
	}
	return ""
}

// Load reads and validates a config file. An empty path gives the zero config.
func Load(path string) (*Config, error) {
	if path == "" {
		return &Config{}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w: %v", path, ErrInvalid, err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.Path = path
	return c, nil
}

// Parse decodes config YAML strictly.
func Parse(b []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &c, nil
}

// Resolve makes a path named inside the config relative to the config's own
// directory, as users expect of a file that points at other files.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.Path), p)
}
