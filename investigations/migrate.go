package investigations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"
)

// schemaFS holds the one migration sequence of the service's state file.
// Every package that keeps state in it (the investigation log, the decider
// registry) adds its tables as the next numbered file here; released files
// never change.
//
//go:embed schema/*.sql
var schemaFS embed.FS

// Migration is one step of the schema sequence.
type Migration struct {
	Version int    // 1, 2, 3, … without gaps
	Name    string // the file name without the number and .sql: "runs"
	SQL     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// Migrations returns the embedded sequence in order. It panics if the files
// are misnamed or the numbers have gaps: that is a build defect, caught by
// the package's tests.
func Migrations() []Migration { return slices.Clone(embedded()) }

var embedded = sync.OnceValue(func() []Migration {
	ms, err := loadMigrations(schemaFS, "schema")
	if err != nil {
		panic(err)
	}
	return ms
})

// LatestVersion is the schema version this binary migrates to.
func LatestVersion() int { return len(embedded()) }

func loadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("schema file %s: want NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: m[2], SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("schema file %04d_%s.sql: version %d expected (no gaps, no repeats)", m.Version, m.Name, i+1)
		}
	}
	return ms, nil
}

// migrate brings the database up to version target, one transaction per
// migration. Concurrent openers are safe: each step re-reads the version
// inside its write transaction and skips what another process applied.
func migrate(ctx context.Context, db *sql.DB, target int) error {
	ms := embedded()
	if target > len(ms) {
		return fmt.Errorf("schema version %d: this binary knows up to %d", target, len(ms))
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Table rebuilds in later migrations need foreign keys off; the check
	// below keeps the result consistent anyway.
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return err
	}
	defer conn.ExecContext(context.Background(), "PRAGMA foreign_keys = ON")
	for _, m := range ms[:target] {
		if err := migrateOne(ctx, conn, m); err != nil {
			return fmt.Errorf("schema migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

func migrateOne(ctx context.Context, conn *sql.Conn, m Migration) error {
	tx, err := conn.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock): one migrator at a time
	if err != nil {
		return err
	}
	defer tx.Rollback()
	v, err := currentVersion(ctx, tx)
	if err != nil {
		return err
	}
	if v >= m.Version {
		return nil
	}
	if v != m.Version-1 {
		return fmt.Errorf("database is at version %d, cannot apply %d", v, m.Version)
	}
	if v == 0 {
		// Claim the file: a foreign database never carries our id, and we
		// never migrate one that carries another.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	bad := rows.Next()
	rows.Close()
	if bad {
		return fmt.Errorf("foreign key check failed after the migration")
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
		m.Version, m.Name, formatTime(time.Now())); err != nil {
		return err
	}
	return tx.Commit()
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// currentVersion is 0 for an empty database.
func currentVersion(ctx context.Context, q querier) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").Scan(&n); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT max(version) FROM schema_version").Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}
