// Package connector turns the engine's live rows into the output table of a
// data model. A connector is the engine's output shape (contracts §3): raw,
// keyvalue or timeseries. It never decides a path; the decider does that.
//
//	engine (compaction → Arrow) ──Source.Scan──▶ Connector ──emit──▶ Iceberg sink
//
// A connector reads one or more tables of one backup through a Source, and
// emits the output table's record batches. Connectors stream: none holds a
// whole table in memory.
//
// Connectors are registered by name, each in its own file, from init:
//
//	func init() { Register("keyvalue", newKeyValue) }
//
// and a dataset of the datasets file chooses one, with options:
//
//	connector: {name: keyvalue, options: {chunk_table: items_chunks}}
package connector

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// Errors that callers map to bad input.
var (
	// ErrUnknown is returned for a connector name that is not registered.
	ErrUnknown = errors.New("unknown connector")
	// ErrOptions is returned for options a connector does not accept.
	ErrOptions = errors.New("bad connector options")
	// ErrMissingTable is returned when a table the connector needs is not
	// in the backup. It is never skipped silently.
	ErrMissingTable = errors.New("table missing from the backup")
)

// Source is the engine's view of one backup of one keyspace: the tables it
// holds and their live rows, reconciled, as Arrow record batches.
type Source interface {
	// Tables lists the keyspace's tables in the backup, sorted.
	Tables() []string
	// Schema is the Arrow schema of the batches Scan yields for table
	// (provenance columns included when the job asked for them).
	Schema(table string) (*arrow.Schema, error)
	// Key is the table's primary key: partition key columns, then
	// clustering columns.
	Key(table string) ([]string, error)
	// Scan streams the table's live rows as record batches. emit takes
	// ownership of each batch and must Release it. Scan stops at the first
	// error emit returns, and returns it.
	Scan(ctx context.Context, table string, emit func(arrow.RecordBatch) error) error
}

// Spec says what one job asks of a connector.
type Spec struct {
	// Table is the dataset's table: the table itself for raw, the items
	// table for keyvalue, the slice-table prefix for timeseries.
	Table string
	// From and To bound the time range a time-sliced connector reads
	// (zero: unbounded).
	From, To time.Time
}

// Output is a connector bound to a Source and a Spec.
type Output interface {
	// Schema is the Arrow schema of the emitted batches.
	Schema() *arrow.Schema
	// Key is the logical key of the output rows; diffs of this output
	// pair rows by it.
	Key() []string
	// Tables are the source tables the output reads.
	Tables() []string
	// Run streams the output rows. emit takes ownership of each batch and
	// must Release it.
	Run(ctx context.Context, emit func(arrow.RecordBatch) error) error
}

// Connector makes Outputs.
type Connector interface {
	// Name is the registered name.
	Name() string
	// Open binds the connector to a source. It checks that every table it
	// needs is present (ErrMissingTable) and that their schemas have the
	// shape it expects.
	Open(ctx context.Context, src Source, spec Spec) (Output, error)
}

// Factory makes a connector from the dataset's options (nil when none). It
// rejects unknown or invalid options with ErrOptions.
type Factory func(options map[string]any) (Connector, error)

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes a connector available by name. It panics on a duplicate
// name: registration happens in init, and a duplicate is a programming error.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[name]; dup {
		panic("connector: " + name + " registered twice")
	}
	factories[name] = f
}

// Names lists the registered connectors, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(factories))
	for n := range factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// New makes the named connector with options.
func New(name string, options map[string]any) (Connector, error) {
	mu.RLock()
	f, ok := factories[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %v)", ErrUnknown, name, Names())
	}
	c, err := f(options)
	if err != nil {
		return nil, fmt.Errorf("connector %s: %w", name, err)
	}
	return c, nil
}

// Default is the connector of a dataset that names none.
const Default = "raw"
