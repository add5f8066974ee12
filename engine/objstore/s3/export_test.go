package s3

// SetPageSize makes listings page every n keys, so tests cover pagination
// without storing thousands of objects.
func (s *Store) SetPageSize(n int32) { s.pageSize = n }
