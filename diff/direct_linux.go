package diff

import "syscall"

// directFlag opens row logs for direct I/O.
const directFlag = syscall.O_DIRECT

// errInvalid is what a write returns when direct I/O is refused.
var errInvalid error = syscall.EINVAL
