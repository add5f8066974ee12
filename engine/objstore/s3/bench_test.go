package s3_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/objstore/s3test"
)

// Download throughput from a real versitygw on loopback: one ranged GET
// at a time against four in parallel. Results: docs/benchmarks.md.
func BenchmarkDownload(b *testing.B) {
	srv := s3test.Start(b)
	srv.Setenv(b)
	srv.CreateBucket(b, "bkt")
	ctx := context.Background()
	st, err := objstore.Open(ctx, "s3://bkt", objstore.Settings{Endpoint: srv.Endpoint, PathStyle: true})
	if err != nil {
		b.Fatal(err)
	}
	data := randomBytes(64 << 20)
	if err := objstore.PutBytes(ctx, st, "big", data); err != nil {
		b.Fatal(err)
	}
	for _, conc := range []int{1, 4, 1, 4} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			w := &bytesWriterAt{b: make([]byte, len(data))}
			for range b.N {
				if _, err := objstore.Download(ctx, st, "big", int64(len(data)), w, objstore.Settings{Concurrency: conc, PartSize: 8 << 20}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
