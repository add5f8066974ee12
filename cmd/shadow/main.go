// Command shadow is the shadow validation and diff service for moving data
// out of Apache Cassandra into Apache Iceberg.
//
// Each subcommand group lives in its own file and registers itself with
// addCommand from an init function, so main.go never changes when a group is
// added.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/shadow/config"
)

// globals are the persistent flags every subcommand shares (contracts §5).
type globals struct {
	configPath string
	db         string
	json       bool
	logLevel   string

	catalog, warehouse             string
	legacyCatalog, legacyWarehouse string
	newCatalog, newWarehouse       string
	s3Endpoint                     string
	s3PathStyle                    bool
	s3Region                       string

	cfg *config.Config // loaded in PersistentPreRunE
}

var (
	g        globals
	commands []func() *cobra.Command
)

// addCommand registers a subcommand group; call it from init.
func addCommand(f func() *cobra.Command) { commands = append(commands, f) }

func newRoot() *cobra.Command {
	g = globals{}
	root := &cobra.Command{
		Use:           "shadow",
		Short:         "Shadow validation and diff for Cassandra → Iceberg data movement",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.load(cmd)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.configPath, "config", "", "config file (default $SHADOW_CONFIG, else ./shadow.yaml if present)")
	pf.StringVar(&g.db, "db", "", "state database: investigation log and decider registry (default ./shadow.db)")
	pf.BoolVar(&g.json, "json", false, "print exactly one JSON object on stdout")
	pf.StringVar(&g.logLevel, "log-level", "warn", "log level on stderr: debug, info, warn, error")
	pf.StringVar(&g.catalog, "catalog", "", "Iceberg catalog URI: sqlite:PATH or rest+http(s)://HOST/PATH (default "+lake.DefaultCatalog+")")
	pf.StringVar(&g.warehouse, "warehouse", "", "Iceberg warehouse URI: file:///path or s3://bucket/prefix")
	pf.StringVar(&g.legacyCatalog, "legacy-catalog", "", "catalog URI for the legacy side (C); overrides --catalog")
	pf.StringVar(&g.legacyWarehouse, "legacy-warehouse", "", "warehouse URI for the legacy side (C); overrides --warehouse")
	pf.StringVar(&g.newCatalog, "new-catalog", "", "catalog URI for the new side (M); overrides --catalog")
	pf.StringVar(&g.newWarehouse, "new-warehouse", "", "warehouse URI for the new side (M); overrides --warehouse")
	pf.StringVar(&g.s3Endpoint, "s3-endpoint", "", "S3 endpoint URL for S3-compatible stores (default $AWS_ENDPOINT_URL_S3)")
	pf.BoolVar(&g.s3PathStyle, "s3-path-style", false, "use path-style S3 addressing")
	pf.StringVar(&g.s3Region, "s3-region", "", "S3 region (default from the AWS chain, else us-east-1)")
	for _, f := range commands {
		root.AddCommand(f())
	}
	return root
}

// load reads the config file and lets flags override it.
func (g *globals) load(cmd *cobra.Command) error {
	cfg, err := config.Load(config.Find(g.configPath))
	if err != nil {
		return usageError{err}
	}
	g.cfg = cfg
	if err := setupLogging(g.logLevel); err != nil {
		return err
	}
	flags := cmd.Flags()
	pick := func(flag, flagVal, cfgVal, def string) string {
		if flags.Changed(flag) || flagVal != "" {
			return flagVal
		}
		if cfgVal != "" {
			return cfgVal
		}
		return def
	}
	g.db = pick("db", g.db, cfg.Resolve(cfg.DB), "./shadow.db")
	g.catalog = pick("catalog", g.catalog, cfg.Iceberg.Catalog, lake.DefaultCatalog)
	g.warehouse = pick("warehouse", g.warehouse, cfg.Iceberg.Warehouse, "")
	g.legacyCatalog = pick("legacy-catalog", g.legacyCatalog, cfg.Legacy.Catalog, g.catalog)
	g.legacyWarehouse = pick("legacy-warehouse", g.legacyWarehouse, cfg.Legacy.Warehouse, g.warehouse)
	g.newCatalog = pick("new-catalog", g.newCatalog, cfg.New.Catalog, g.catalog)
	g.newWarehouse = pick("new-warehouse", g.newWarehouse, cfg.New.Warehouse, g.warehouse)
	g.s3Endpoint = pick("s3-endpoint", g.s3Endpoint, cfg.S3.Endpoint, os.Getenv("AWS_ENDPOINT_URL_S3"))
	if !flags.Changed("s3-path-style") && cfg.S3.PathStyle {
		g.s3PathStyle = true
	}
	g.s3Region = pick("s3-region", g.s3Region, cfg.S3.Region, "")
	return nil
}

// s3 returns the S3 settings in force.
func (g *globals) s3() lake.S3 {
	return lake.S3{Endpoint: g.s3Endpoint, PathStyle: g.s3PathStyle, Region: g.s3Region}
}

// legacyLocation and newLocation are the per-side Iceberg locations.
func (g *globals) legacyLocation() lake.Location {
	return lake.Location{Catalog: g.legacyCatalog, Warehouse: g.legacyWarehouse, S3: g.s3()}
}

func (g *globals) newLocation() lake.Location {
	return lake.Location{Catalog: g.newCatalog, Warehouse: g.newWarehouse, S3: g.s3()}
}

func (g *globals) location() lake.Location {
	return lake.Location{Catalog: g.catalog, Warehouse: g.warehouse, S3: g.s3()}
}

func setupLogging(level string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", level)}
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})))
	return nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the CLI and returns the exit code of contracts §4.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if code == exitDiffers {
		return code // the report already said so
	}
	for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		fmt.Fprintf(stderr, "shadow: %s\n", line)
	}
	return code
}
