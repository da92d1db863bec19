# gfs — see README.md. `make demo` and `make test` install what they need.

GO      ?= go
GOFLAGS ?=
BIN     := bin/gfs
# Debian packages gfs uses at run time and in its tests: QEMU, a kernel
# with modules for the appliance, and the filesystem tools it copies in.
DEB_PACKAGES := qemu-system-x86 qemu-utils linux-image-amd64 \
	e2fsprogs xfsprogs btrfs-progs dosfstools ntfs-3g lvm2 gdisk parted fdisk \
	zerofree squashfs-tools xz-utils zstd mtools cpio genisoimage cryptsetup-bin

.PHONY: all build deps demo test test-short bench docs check-docs check-libguestfs fuzz clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS) -o $(BIN) ./cmd/gfs

deps:
	@./.ci/deps $(DEB_PACKAGES)

demo: deps build
	@./.ci/demo $(BIN)

# The whole suite on the real QEMU, kernel and tools. Packages run in
# parallel; each shares one booted appliance among its tests.
test: deps check-docs
	CGO_ENABLED=0 $(GO) build -o /dev/null ./...
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m -p 2 ./...
	$(MAKE) fuzz FUZZTIME=10s

test-short:
	$(GO) test -count=1 -short ./...

# A short run of every fuzz target (seeds plus FUZZTIME of new inputs).
FUZZTIME ?= 30s
fuzz:
	@GO=$(GO) FUZZTIME=$(FUZZTIME) ./.ci/fuzz

# The pure-Go readers against libguestfs's own appliance (a reference
# tool, so a separate suite): needs libguestfs-tools, takes minutes.
check-libguestfs: deps
	@./.ci/deps libguestfs-tools
	$(GO) test -count=1 -tags libguestfs -run AgainstLibguestfs ./fs

bench: deps build
	$(GO) run ./cmd/gfsbench -gfs $(BIN)

docs:
	$(GO) run ./cmd/gfsdocs > docs/commands.md

check-docs:
	@$(GO) run ./cmd/gfsdocs | diff -u docs/commands.md - >/dev/null || \
	  { echo "docs/commands.md is out of date: run make docs"; exit 1; }

clean:
	rm -rf bin
	$(GO) clean -testcache
