package runner

import "context"

func (x *run) move(ctx context.Context) error { panic("tmp") }
