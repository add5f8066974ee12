package connector

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
)

// raw emits the table as it is, keyed by its primary key.
type raw struct{}

func init() {
	Register("raw", func(options map[string]any) (Connector, error) {
		if len(options) > 0 {
			return nil, fmt.Errorf("%w: raw takes no options, got %v", ErrOptions, keys(options))
		}
		return raw{}, nil
	})
}

func (raw) Name() string { return "raw" }

func (raw) Open(ctx context.Context, src Source, spec Spec) (Output, error) {
	if !slices.Contains(src.Tables(), spec.Table) {
		return nil, fmt.Errorf("%w: %q (the backup has %v)", ErrMissingTable, spec.Table, src.Tables())
	}
	sc, err := src.Schema(spec.Table)
	if err != nil {
		return nil, err
	}
	key, err := src.Key(spec.Table)
	if err != nil {
		return nil, err
	}
	return &rawOutput{src: src, table: spec.Table, schema: sc, key: key}, nil
}

type rawOutput struct {
	src    Source
	table  string
	schema *arrow.Schema
	key    []string
}

func (o *rawOutput) Schema() *arrow.Schema { return o.schema }
func (o *rawOutput) Key() []string         { return o.key }
func (o *rawOutput) Tables() []string      { return []string{o.table} }

func (o *rawOutput) Run(ctx context.Context, emit func(arrow.RecordBatch) error) error {
	return o.src.Scan(ctx, o.table, emit)
}

// keys lists a map's keys, sorted, for messages.
func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
