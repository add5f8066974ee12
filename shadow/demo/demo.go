// Package demo builds the demo dataset that `shadow demo` runs on: a small
// "orders" table written twice into an Iceberg catalog on SQLite with a
// file warehouse, once as the legacy connector's output (C) and once as the
// new engine's (M), with differences planted on purpose. It needs no
// external service, and its tables are ordinary Iceberg tables that any
// part of shadow can read.
package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/cassmove/shadow/engine/lake"
)

// Namespace and table names of the demo dataset.
const (
	Namespace   = "demo"
	LegacyTable = "orders_legacy"
	NewTable    = "orders_new"
)

// Expected is what a diff of the two tables by Key must find.
type Expected struct {
	LegacyRows, NewRows     int64
	OnlyInLegacy, OnlyInNew int64
	Changed, Missing, Extra int64
	DuplicateKeys           int64
}

// Dataset is a generated demo dataset.
type Dataset struct {
	Dir      string
	Location lake.Location
	Legacy   string   // iceberg:demo.orders_legacy
	New      string   // iceberg:demo.orders_new
	Key      []string // order_id
	Planted  []string // the differences, in words
	Expected Expected
}

// Schema is the orders table.
var Schema = iceberg.NewSchema(0,
	iceberg.NestedField{ID: 1, Name: "order_id", Type: iceberg.PrimitiveTypes.Int64, Required: true},
	iceberg.NestedField{ID: 2, Name: "customer", Type: iceberg.PrimitiveTypes.String},
	iceberg.NestedField{ID: 3, Name: "amount", Type: iceberg.DecimalTypeOf(10, 2)},
	iceberg.NestedField{ID: 4, Name: "status", Type: iceberg.PrimitiveTypes.String},
	iceberg.NestedField{ID: 5, Name: "created_at", Type: iceberg.PrimitiveTypes.TimestampTz},
	iceberg.NestedField{ID: 6, Name: "note", Type: iceberg.PrimitiveTypes.String},
	iceberg.NestedField{ID: 7, Name: "express", Type: iceberg.PrimitiveTypes.Bool},
)

// Rows is the size of the legacy table.
const Rows = 1000

type order struct {
	id       int64
	customer string
	cents    int64
	status   string
	created  int64 // microseconds
	note     *string
	express  bool
}

var (
	customers = []string{"acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka"}
	statuses  = []string{"placed", "paid", "shipped", "delivered"}
	base      = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC).UnixMicro()
)

func orderOf(id int64) order {
	o := order{id: id, customer: customers[id%8], cents: 1000 + (id*7919)%90000, status: statuses[id%4],
		created: base + id*61_000_123, express: id%5 == 0}
	if id%3 == 0 {
		n := fmt.Sprintf("gift wrap %d", id%10)
		o.note = &n
	}
	return o
}

// The planted differences.
var (
	missing   = []int64{17, 342, 789}
	extra     = []int64{1001, 1002}
	amountID  = int64(100) // amount +0.01
	statusID  = int64(202) // shipped → delivered
	emptyID   = int64(301) // note NULL → ''
	preciseID = int64(400) // created_at truncated to milliseconds
	dupID     = int64(500) // twice in new
)

func legacyOrders() []order {
	var out []order
	for id := int64(1); id <= Rows; id++ {
		out = append(out, orderOf(id))
	}
	return out
}

func newOrders() []order {
	var out []order
	for _, o := range legacyOrders() {
		switch o.id {
		case missing[0], missing[1], missing[2]:
			continue
		case amountID:
			o.cents++
		case statusID:
			o.status = "delivered"
		case emptyID:
			e := ""
			o.note = &e
		case preciseID:
			o.created -= o.created % 1000
		case dupID:
			out = append(out, o)
		}
		out = append(out, o)
	}
	for _, id := range extra {
		out = append(out, orderOf(id))
	}
	return out
}

func expected() Expected {
	return Expected{
		LegacyRows: Rows, NewRows: Rows - 3 + 2 + 1,
		OnlyInLegacy: 3 + 4, OnlyInNew: 2 + 4 + 1,
		Changed: 4, Missing: 3, Extra: 3, DuplicateKeys: 1,
	}
}

// Generate writes the dataset under dir (catalog.db and warehouse/),
// replacing a previous one.
func Generate(ctx context.Context, dir string) (*Dataset, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, p := range []string{"catalog.db", "catalog.db-wal", "catalog.db-shm", "warehouse"} {
		if err := os.RemoveAll(filepath.Join(abs, p)); err != nil {
			return nil, fmt.Errorf("demo: clearing %s: %w", abs, err)
		}
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	ds := &Dataset{
		Dir:      dir,
		Location: lake.Location{Catalog: "sqlite:" + filepath.Join(abs, "catalog.db"), Warehouse: "file://" + filepath.Join(abs, "warehouse")},
		Legacy:   "iceberg:" + Namespace + "." + LegacyTable,
		New:      "iceberg:" + Namespace + "." + NewTable,
		Key:      []string{"order_id"},
		Planted: []string{
			fmt.Sprintf("orders %d, %d and %d are missing from new", missing[0], missing[1], missing[2]),
			fmt.Sprintf("orders %d and %d exist only in new", extra[0], extra[1]),
			fmt.Sprintf("order %d: amount is 0.01 higher in new", amountID),
			fmt.Sprintf("order %d: status shipped in legacy, delivered in new", statusID),
			fmt.Sprintf("order %d: note NULL in legacy, empty string in new", emptyID),
			fmt.Sprintf("order %d: created_at truncated to milliseconds in new", preciseID),
			fmt.Sprintf("order %d: written twice in new", dupID),
		},
		Expected: expected(),
	}
	cat, err := lake.Open(ctx, ds.Location, true)
	if err != nil {
		return nil, err
	}
	defer cat.Close()
	if err := cat.CreateNamespace(ctx, catalog.ToIdentifier(Namespace), nil); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	legacy := legacyOrders()
	if err := writeTable(ctx, cat, LegacyTable, legacy); err != nil {
		return nil, err
	}
	if err := writeTable(ctx, cat, NewTable, newOrders()); err != nil {
		return nil, err
	}
	return ds, nil
}

// writeTable creates the table and appends the orders in two commits, so
// the table has two snapshots and two data files.
func writeTable(ctx context.Context, cat *lake.Catalog, name string, orders []order) error {
	tbl, err := cat.CreateTable(ctx, catalog.ToIdentifier(Namespace, name), Schema)
	if err != nil {
		return fmt.Errorf("demo: creating %s: %w", name, err)
	}
	sc, err := table.SchemaToArrowSchema(Schema, nil, false, false)
	if err != nil {
		return err
	}
	half := len(orders) / 2
	for _, part := range [][]order{orders[:half], orders[half:]} {
		rec, err := toRecord(sc, part)
		if err != nil {
			return err
		}
		rdr, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
		if err != nil {
			rec.Release()
			return err
		}
		tbl, err = tbl.Append(ctx, rdr, nil)
		rdr.Release()
		rec.Release()
		if err != nil {
			return fmt.Errorf("demo: appending to %s: %w", name, err)
		}
	}
	return nil
}

func toRecord(sc *arrow.Schema, orders []order) (arrow.RecordBatch, error) {
	var rows []string
	for _, o := range orders {
		note := "null"
		if o.note != nil {
			note = fmt.Sprintf("%q", *o.note)
		}
		rows = append(rows, fmt.Sprintf(`{"order_id":%d,"customer":%q,"amount":"%d.%02d","status":%q,"created_at":%q,"note":%s,"express":%t}`,
			o.id, o.customer, o.cents/100, o.cents%100, o.status, time.UnixMicro(o.created).UTC().Format("2006-01-02T15:04:05.000000Z"), note, o.express))
	}
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, sc, strings.NewReader("["+strings.Join(rows, ",")+"]"))
	if err != nil {
		return nil, fmt.Errorf("demo: building rows: %w", err)
	}
	return rec, nil
}
