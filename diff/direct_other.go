//go:build !linux

package diff

import "errors"

// directFlag is 0 where direct I/O is not used: row logs are buffered.
const directFlag = 0

var errInvalid = errors.New("direct I/O refused")
