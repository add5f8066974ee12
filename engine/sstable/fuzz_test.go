package sstable

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// Fuzz targets for every decoder. Their seed corpora come from the
// Cassandra-written fixtures and run as ordinary tests in CI; run one for
// real with: go test ./engine/sstable -run XXX -fuzz FuzzDataScan -fuzztime 60s

type fixtureFiles struct {
	desc  Descriptor
	files map[string][]byte
	data  []byte // uncompressed Data.db
}

func loadFixtures(t testing.TB, pattern string) []fixtureFiles {
	dirs, _ := filepath.Glob("testdata/legacy-sstables/" + pattern)
	var out []fixtureFiles
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		src, err := NewDirSource(dir)
		if err != nil {
			t.Fatal(err)
		}
		ff := fixtureFiles{desc: src.Desc, files: map[string][]byte{}}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			_, comp, err := ParseFileName(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			ff.files[comp] = b
		}
		r, err := Open(context.Background(), src, nil)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := src.Open(context.Background(), ComponentData)
		cr, err := newChunkReader(context.Background(), f, "x", r.comp, nil, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		ds := dataStream{cr: cr, end: r.comp.DataLength}
		if err := ds.fill(int(r.comp.DataLength)); err != nil {
			t.Fatal(err)
		}
		ff.data = append([]byte(nil), ds.avail()...)
		f.Close()
		out = append(out, ff)
	}
	return out
}

// scanAll reads everything an SSTable holds, as a consumer would.
func scanAll(r *Reader) {
	sc, err := r.Scan(context.Background())
	if err != nil {
		return
	}
	defer sc.Close()
	for sc.NextPartition() {
		for sc.Next() {
		}
	}
}

// FuzzDataScan feeds arbitrary uncompressed Data.db bytes to the row decoder
// under each fixture's Statistics.db.
func FuzzDataScan(f *testing.F) {
	fx := loadFixtures(f, "*/legacy_tables/*")
	for i, x := range fx {
		if len(x.data) < 20000 {
			f.Add(uint8(i), x.data)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		x := fx[int(which)%len(fx)]
		src := &MemSource{Desc: x.desc, Files: map[string][]byte{ComponentStatistics: x.files[ComponentStatistics], ComponentData: data}}
		r, err := Open(context.Background(), src, nil)
		if err != nil {
			t.Fatal(err) // metadata is valid; only Data.db is fuzzed
		}
		scanAll(r)
	})
}

// FuzzChunks fuzzes compressed Data.db bytes with chunk CRCs off, so the
// mutations reach the decompressors.
func FuzzChunks(f *testing.F) {
	fx := loadFixtures(f, "nb/legacy_tables/legacy_nb_simple*")
	for i, x := range fx {
		f.Add(uint8(i), x.files[ComponentData])
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		x := fx[int(which)%len(fx)]
		files := map[string][]byte{}
		for k, v := range x.files {
			files[k] = v
		}
		files[ComponentData] = data
		src := &MemSource{Desc: x.desc, Files: files}
		r, err := Open(context.Background(), src, nil)
		if err != nil {
			return
		}
		sc, err := r.Scan(context.Background())
		if err != nil {
			return
		}
		sc.ds.cr.noCRC = true
		for sc.NextPartition() {
			for sc.Next() {
			}
		}
		sc.Close()
	})
}

// FuzzMetadata fuzzes Statistics.db, CompressionInfo.db, Summary.db,
// Index.db and CRC.db through Open, seeking and scanning.
func FuzzMetadata(f *testing.F) {
	fx := loadFixtures(f, "*/legacy_tables/legacy_*_simple")
	comps := []string{ComponentStatistics, ComponentCompressionInfo, ComponentSummary, ComponentIndex, ComponentTOC}
	for i, x := range fx {
		for j, c := range comps {
			f.Add(uint8(i), uint8(j), x.files[c])
		}
	}
	f.Fuzz(func(t *testing.T, which, comp uint8, b []byte) {
		x := fx[int(which)%len(fx)]
		files := map[string][]byte{}
		for k, v := range x.files {
			files[k] = v
		}
		files[comps[int(comp)%len(comps)]] = b
		r, err := Open(context.Background(), &MemSource{Desc: x.desc, Files: files}, nil)
		if err != nil {
			return
		}
		r.KeyRange(context.Background())
		sc, err := r.Scan(context.Background())
		if err != nil {
			return
		}
		first, _, err := r.TokenRange(context.Background())
		if err == nil {
			sc.SeekToken(context.Background(), first)
		}
		for sc.NextPartition() {
			for sc.Next() {
			}
		}
		sc.Close()
	})
}

// FuzzUncompressed fuzzes CRC.db-checked raw Data.db written by the writer.
func FuzzUncompressed(f *testing.F) {
	b, _ := NewBuilder(richSchema(f))
	richData(f, b)
	dir := f.TempDir()
	if _, err := b.WriteTo(dir, &WriterOptions{Compression: None, ChunkLength: 512}); err != nil {
		f.Fatal(err)
	}
	src, _ := NewDirSource(dir)
	files := map[string][]byte{}
	for _, c := range []string{ComponentStatistics, ComponentData, ComponentCRC, ComponentIndex, ComponentSummary} {
		files[c], _ = os.ReadFile(src.Name(c))
	}
	f.Add(files[ComponentData], files[ComponentCRC])
	f.Fuzz(func(t *testing.T, data, crc []byte) {
		fs := map[string][]byte{}
		for k, v := range files {
			fs[k] = v
		}
		fs[ComponentData], fs[ComponentCRC] = data, crc
		r, err := Open(context.Background(), &MemSource{Desc: src.Desc, Files: fs}, nil)
		if err != nil {
			return
		}
		scanAll(r)
	})
}
