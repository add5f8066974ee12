package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	_ "github.com/duckdb/duckdb-go/v2"
)

// duckCounts runs the anchor: DuckDB EXCEPT ALL in both directions on the
// same Parquet files, materialising the discrepant rows as temp tables (as a
// diff tool must hold them to report them), then counting them.
func duckCounts(ctx context.Context, dir string, threads int, memLimit string, w io.Writer) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	settings := []string{
		"SET autoinstall_known_extensions=false",
		"SET autoload_known_extensions=false",
		fmt.Sprintf("SET threads=%d", threads),
		fmt.Sprintf("SET temp_directory='%s'", filepath.Join(dir, "duckdb.tmp")),
	}
	if memLimit != "" {
		settings = append(settings, fmt.Sprintf("SET memory_limit='%s'", memLimit))
	}
	for _, s := range settings {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	legacy := fmt.Sprintf("read_parquet('%s')", filepath.Join(dir, "legacy", "*.parquet"))
	newer := fmt.Sprintf("read_parquet('%s')", filepath.Join(dir, "new", "*.parquet"))
	q := []string{
		fmt.Sprintf("CREATE TEMP TABLE c_minus_m AS SELECT * FROM %s EXCEPT ALL SELECT * FROM %s", legacy, newer),
		fmt.Sprintf("CREATE TEMP TABLE m_minus_c AS SELECT * FROM %s EXCEPT ALL SELECT * FROM %s", newer, legacy),
	}
	for _, s := range q {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("duckdb: %w", err)
		}
	}
	var out struct {
		OnlyInLegacy int64 `json:"only_in_legacy"`
		OnlyInNew    int64 `json:"only_in_new"`
		LegacyRows   int64 `json:"legacy_rows"`
		NewRows      int64 `json:"new_rows"`
	}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM c_minus_m").Scan(&out.OnlyInLegacy); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM m_minus_c").Scan(&out.OnlyInNew); err != nil {
		return err
	}
	// Row counts come from Parquet metadata: no extra scan.
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+legacy).Scan(&out.LegacyRows); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+newer).Scan(&out.NewRows); err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(out)
}
