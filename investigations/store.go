package investigations

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Sentinel errors. The CLI maps ErrNotFound, ErrInvalid and ErrCorrupt to
// exit code 2 (bad input).
var (
	// ErrNotFound marks an unknown run, discrepancy, investigation, rule or
	// category, or a state file that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid marks bad input: an unknown side or status, a bad pattern,
	// counts that break the contracts' invariants.
	ErrInvalid = errors.New("invalid")
	// ErrCorrupt marks a file that is not a shadow state database: not
	// SQLite at all, damaged, another application's database, or one
	// written by a newer shadow. Nothing is written to such a file.
	ErrCorrupt = errors.New("not a usable shadow state database")
)

// applicationID is stored in the SQLite header (PRAGMA application_id) of
// every state file: "SHDW".
const applicationID = 0x53484457

// DefaultBusyTimeout is how long a writer waits for another writer's
// transaction before giving up.
const DefaultBusyTimeout = 30 * time.Second

// Store is an open state database.
type Store struct {
	db   *sql.DB
	path string
	host string
	proc procIdentity
}

// Option changes how Open behaves.
type Option func(*options)

type options struct {
	mustExist   bool
	busyTimeout time.Duration
}

// MustExist makes Open fail with ErrNotFound instead of creating a missing
// file; read-only commands use it so a typo never leaves an empty database.
func MustExist() Option { return func(o *options) { o.mustExist = true } }

// WithBusyTimeout sets how long a writer waits for the write lock.
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// Open opens the state database at path, creating it unless MustExist is
// given, and migrates it to the latest schema. A file that is not SQLite,
// is damaged, or belongs to another application is refused with ErrCorrupt
// before anything is written to it. Runs left `running` by a process of this
// host that is gone are marked `aborted`.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{busyTimeout: DefaultBusyTimeout}
	for _, f := range opts {
		f(&o)
	}
	if path == "" {
		return nil, fmt.Errorf("state database: %w: empty path", ErrInvalid)
	}
	fresh, err := inspect(ctx, path, o.mustExist)
	if err != nil {
		return nil, err
	}
	// No _journal_mode in the DSN: WAL is a property of the file, set once
	// below. Setting it on every new connection fails with "database is
	// locked", without waiting, while another opener converts a new file.
	dsn := fmt.Sprintf("file:%s?_busy_timeout=%d&_foreign_keys=1&_txlock=immediate&_synchronous=NORMAL",
		escapePath(path), o.busyTimeout.Milliseconds())
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("state database %s: %w", path, err)
	}
	s := &Store{db: db, path: path, proc: selfIdentity()}
	s.host, _ = os.Hostname()
	if err := ensureWAL(ctx, db, o.busyTimeout); err != nil {
		db.Close()
		return nil, fmt.Errorf("state database %s: switching to WAL mode: %w", path, s.wrap(err))
	}
	v, err := currentVersion(ctx, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("state database %s: reading the schema version: %w", path, s.wrap(err))
	}
	if fresh || v < LatestVersion() {
		if err := migrate(ctx, db, LatestVersion()); err != nil {
			db.Close()
			return nil, fmt.Errorf("state database %s: %w", path, s.wrap(err))
		}
	}
	// Best effort: a reader must not fail because a writer holds the lock
	// longer than the busy timeout; the next StartRun sweeps again.
	if marked, err := s.AbortDead(ctx); err != nil {
		slog.Warn("state database: could not mark dead runs aborted", "db", path, "err", err)
	} else if len(marked) > 0 {
		slog.Info("state database: marked runs of dead processes aborted", "db", path, "runs", marked)
	}
	return s, nil
}

// DB is the underlying handle, for packages that keep their own tables in
// the state file (added as migrations to this package's sequence).
func (s *Store) DB() *sql.DB { return s.db }

// Path is the file the store was opened from.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// SchemaVersion reports the version the database is at.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := currentVersion(ctx, s.db)
	return v, s.wrap(err)
}

// escapePath makes a file path safe inside a file: URI.
func escapePath(p string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return r.Replace(p)
}

// inspect checks an existing file before any connection that could write to
// it is opened. It reports whether the database is new (missing or empty).
func inspect(ctx context.Context, path string, mustExist bool) (fresh bool, err error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if mustExist {
			return false, fmt.Errorf("state database %s: %w (a shadow run creates it; or pass --db)", path, ErrNotFound)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("state database %s: %w", path, err)
	case fi.IsDir():
		return false, fmt.Errorf("state database %s: %w: is a directory", path, ErrCorrupt)
	case fi.Size() == 0:
		if mustExist {
			return false, fmt.Errorf("state database %s: %w: the file is empty", path, ErrNotFound)
		}
		return true, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("state database %s: %w", path, err)
	}
	var hdr [100]byte
	_, err = io.ReadFull(f, hdr[:])
	f.Close()
	if err != nil || string(hdr[:16]) != "SQLite format 3\x00" {
		return false, fmt.Errorf("state database %s: %w: not an SQLite database", path, ErrCorrupt)
	}
	switch id := binary.BigEndian.Uint32(hdr[68:72]); id {
	case 0, applicationID:
	default:
		return false, fmt.Errorf("state database %s: %w: SQLite database of another application (application_id 0x%08x)", path, ErrCorrupt, id)
	}

	// A read-only handle with no journal-mode change: it cannot write.
	ro, err := sql.Open("sqlite3", "file:"+escapePath(path)+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return false, fmt.Errorf("state database %s: %w", path, err)
	}
	defer ro.Close()
	tables, err := tableNames(ctx, ro)
	if err != nil {
		return false, fmt.Errorf("state database %s: %w", path, wrapSQLite(err))
	}
	var appID uint32
	if err := ro.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return false, fmt.Errorf("state database %s: %w", path, wrapSQLite(err))
	}
	if appID != applicationID {
		if len(tables) == 0 {
			return true, nil
		}
		if len(tables) > 5 {
			tables = append(tables[:5], "…")
		}
		return false, fmt.Errorf("state database %s: %w: SQLite database of another application (tables %s)", path, ErrCorrupt, strings.Join(tables, ", "))
	}
	known := Migrations()
	rows, err := ro.QueryContext(ctx, "SELECT version, name FROM schema_version ORDER BY version")
	if err != nil {
		return false, fmt.Errorf("state database %s: %w: no schema version history: %v", path, ErrCorrupt, err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			return false, fmt.Errorf("state database %s: %w", path, wrapSQLite(err))
		}
		if v > len(known) {
			return false, fmt.Errorf("state database %s: %w: schema version %d was written by a newer shadow (this one knows up to %d)", path, ErrCorrupt, v, len(known))
		}
		if v < 1 || known[v-1].Name != name {
			return false, fmt.Errorf("state database %s: %w: schema version %d is %q, this shadow expects %q", path, ErrCorrupt, v, name, known[max(v, 1)-1].Name)
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("state database %s: %w", path, wrapSQLite(err))
	}
	return false, nil
}

// ensureWAL puts the file in WAL mode unless it is already, retrying while
// another connection holds the lock the switch needs (SQLite does not call
// the busy handler for it).
func ensureWAL(ctx context.Context, db *sql.DB, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
		if err == nil && strings.EqualFold(mode, "wal") {
			return nil
		}
		if err == nil {
			err = db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
			if err == nil && strings.EqualFold(mode, "wal") {
				return nil
			}
			if err == nil {
				return fmt.Errorf("journal mode stayed %q", mode)
			}
		}
		var se sqlite3.Error
		if !errors.As(err, &se) || (se.Code != sqlite3.ErrBusy && se.Code != sqlite3.ErrLocked) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func tableNames(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// wrapSQLite turns SQLite's "not a database" and "malformed" into ErrCorrupt.
func wrapSQLite(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB) {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return err
}

func (s *Store) wrap(err error) error {
	if err == nil {
		return nil
	}
	return wrapSQLite(err)
}

// formatTime is the one text form of times in the database: UTC, fixed
// width, microseconds, so that string order is time order.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		slog.Warn("state database: unparsable time", "value", s)
	}
	return t.UTC()
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return formatTime(t)
}
