package diff

import (
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"
)

// A spillFile is an append-only local file for spilled bytes. It writes
// with direct I/O (O_DIRECT on Linux) where the file system allows it: the
// bytes go to the device without passing through the page cache, which on
// the machines measured costs a tenth of the CPU of a buffered write. Each
// append is then padded to a block boundary; callers address what they
// wrote by the offset append returns, never the padding. Sequential reads are
// buffered, through a second descriptor; single records are read with
// direct I/O too (readRecord), a block or two at a time.
type spillFile struct {
	w, r   *os.File
	rd     *os.File // direct reads of single records, when direct I/O works
	direct bool
	end    int64 // next append offset
}

// ioBlock is the alignment of direct I/O buffers, offsets and sizes.
const ioBlock = 4096

// alignedBuffer returns an empty buffer of capacity n rounded up to a
// block, starting on a block boundary, as direct I/O needs.
func alignedBuffer(n int) []byte {
	n = (n + ioBlock - 1) / ioBlock * ioBlock
	b := make([]byte, n+ioBlock)
	shift := (ioBlock - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))%ioBlock)) % ioBlock
	return b[shift : shift : shift+n]
}

func openSpillFile(path string) (*spillFile, error) {
	w, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|directFlag, 0o600)
	direct := err == nil && directFlag != 0
	if err != nil && directFlag != 0 {
		// The file system refuses direct I/O (tmpfs does): buffered it is.
		w, err = os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	r, err := os.Open(path)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("spill: %w", err)
	}
	s := &spillFile{w: w, r: r, direct: direct}
	if direct {
		// Buffered reads of scattered records would each read ahead
		// 128 KiB; direct reads fetch the block or two a record lives in.
		if rd, err := os.OpenFile(path, os.O_RDONLY|directFlag, 0); err == nil {
			s.rd = rd
		}
	}
	return s, nil
}

// readRecord returns at least n bytes at off (fewer at the end of the
// file) for reading one record; buf is scratch and may be returned grown.
func (s *spillFile) readRecord(buf []byte, off int64, n int) ([]byte, []byte, error) {
	if s.rd == nil {
		buf = resize(buf, n)
		k, err := s.r.ReadAt(buf, off)
		if k < n && err != nil && !errors.Is(err, io.EOF) {
			return nil, buf, err
		}
		return buf[:k], buf, nil
	}
	start := off &^ (ioBlock - 1)
	end := (off + int64(n) + ioBlock - 1) &^ (ioBlock - 1)
	size := int(end - start)
	if cap(buf) < size || !isAligned(buf) {
		buf = alignedBuffer(max(size, 2*ioBlock))
	}
	buf = buf[:size]
	k, err := s.rd.ReadAt(buf, start)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, buf, err
	}
	skip := int(off - start)
	if k < skip {
		return nil, buf, io.ErrUnexpectedEOF
	}
	return buf[skip:k], buf, nil
}

func isAligned(b []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%ioBlock == 0
}

// append writes b at the end of the file and returns its offset. With
// direct I/O, b is padded with zeros within its capacity to a whole block
// (or copied to an aligned buffer when it is not aligned or too small).
func (s *spillFile) append(b []byte) (int64, error) {
	off := s.end
	data := b
	if s.direct {
		padded := (len(b) + ioBlock - 1) / ioBlock * ioBlock
		if cap(b) >= padded && isAligned(b) {
			data = b[:padded]
		} else {
			data = alignedBuffer(padded)[:padded]
			copy(data, b)
		}
		clear(data[len(b):])
	}
	_, err := s.w.WriteAt(data, off)
	if err != nil && s.direct && errors.Is(err, errInvalid) {
		// Direct I/O refused at write time: go on buffered.
		w, ferr := os.OpenFile(s.w.Name(), os.O_WRONLY, 0o600)
		if ferr != nil {
			return 0, fmt.Errorf("spill file %s: %w", s.w.Name(), err)
		}
		s.w.Close()
		s.w, s.direct = w, false
		data = b
		_, err = s.w.WriteAt(data, off)
	}
	if err != nil {
		return 0, fmt.Errorf("spill file %s: %w", s.w.Name(), err)
	}
	s.end += int64(len(data))
	return off, nil
}

func (s *spillFile) readAt(b []byte, off int64) (int, error) { return s.r.ReadAt(b, off) }

func (s *spillFile) name() string { return s.w.Name() }

func (s *spillFile) close() error {
	err := s.w.Close()
	if rerr := s.r.Close(); err == nil {
		err = rerr
	}
	if s.rd != nil {
		s.rd.Close()
	}
	return err
}
