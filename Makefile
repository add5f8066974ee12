# make test      installs what the tests need, then runs every test (the CI command)
# make build     builds bin/shadow
# make demo      builds and runs `shadow demo`

GO ?= go
export PATH := $(shell $(GO) env GOPATH)/bin:$(PATH)

.PHONY: build test test-deps vet demo

build:
	$(GO) build -o bin/shadow ./cmd/shadow

test-deps:
	bash scripts/test-deps.sh

vet:
	$(GO) vet ./...

test: test-deps vet
	$(GO) test -count=1 -timeout 60m ./...

demo: build
	./bin/shadow demo
