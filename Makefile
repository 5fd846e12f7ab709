GO ?= go

.PHONY: test fmt vet race lint bench example

# The one test command: README and .ci/run call it.
test: fmt vet race

fmt:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

race:
	$(GO) test -race -timeout 15m ./...

lint:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./...

example:
	$(GO) run ./examples/bulkimport
