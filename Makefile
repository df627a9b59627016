# vlan-bridge: a CNI bridge plugin with Harvester's VLAN semantics. `make demo` and `make test` are the two
# commands a newcomer runs; both install what they need first (`make deps`, which does nothing when all is there).
SHELL := /bin/bash
# Where `make install` puts the executable: a CNI plugin directory itself (libcni's and Multus's default), not a
# prefix with a bin/ below it. DESTDIR is put in front of it (a staging tree for a package).
CNI_BIN_DIR ?= /opt/cni/bin
DESTDIR ?=
# PREFIX once meant this directory, so that a prefix such as /usr/local put the plugin at /usr/local/vlan-bridge:
# given to install or uninstall it stops them before anything is done.
ifneq ($(PREFIX),)
ifneq ($(filter install uninstall,$(MAKECMDGOALS)),)
$(error PREFIX is not used: the plugin goes into a CNI plugin directory itself, not a prefix. Set CNI_BIN_DIR \
  (default /opt/cni/bin), e.g. make $(filter install uninstall,$(MAKECMDGOALS)) CNI_BIN_DIR=$(PREFIX))
endif
endif
BIN := bin/vlan-bridge
# The tests run under the Bun that builds the executable (the pinned npm package), so in-process kernel tests
# exercise the bun:ffi code that ships.
# The current reference plugins (Debian unstable's containernetworking-plugins 1.9.1, unpacked by
# scripts/unstable-debs.sh; its Go executables run on bookworm): the side-by-side peer of the parity tests and the
# benchmarks, beside bookworm's 1.1.1 in /usr/lib/cni. build/go is Debian unstable's Go 1.26 with its sources, which
# builds the tagged trees of ../shared/vendor offline (bookworm's Go 1.19 is too old for them).
REFERENCE_DIR := build/reference-1.9.1
BUN := node_modules/@oven/bun-linux-x64/bin/bun
VITEST := $(BUN) --bun node_modules/vitest/vitest.mjs
# Debian packages the tests use: kmod for the UML kernel's modules (scripts/uml-kernel.sh fetches that kernel,
# Debian unstable's user-mode-linux, into build/uml-kernel, and patchelf points it at unstable's libc beside it),
# iproute2 to read the kernel back independently, the reference plugins (side by side, host-local/static IPAM),
# ping for traffic checks, iptables and nftables for ipMasq and macspoofchk, dnsmasq as a DHCP server,
# strace to kill the plugin at each step in the crash tests, GNU time for the benchmarks' peak RSS, Go with libcni's
# sources to build the libcni test driver, busybox (udhcpc) and tcpdump for the traffic tests, qemu-user to run the
# executable on other CPUs (test/process/protocol.test.ts), jq for the README's by-hand commands
# (test/host/readme.test.ts runs them). containerd, podman and runc are the container runtimes of the runtimes tier
# (busybox is its image); nothing of theirs starts on install (no systemd here), the tests start them privately.
APT_PACKAGES := kmod patchelf strace iproute2 iputils-ping iptables nftables containernetworking-plugins dnsmasq-base time \
	golang-go golang-github-appc-cni-dev busybox tcpdump qemu-user jq containerd podman runc

.PHONY: all deps build lint format test test-unit test-host test-uml test-conformance test-k8s demo bench bench-logging install uninstall clean

all: build

# Only what is missing: Debian packages not installed, node_modules older than the lockfile, the UML kernel. apt's
# chatter (debconf's "delaying package configuration" and the like) goes to build/apt.log, shown if apt fails.
# npm 11 runs no dependency's install script unless package.json's allowScripts says so: the one there is, esbuild's
# postinstall (it only checks the binary of its platform package, which vite finds without it), is denied
# there, so that `npm ci` has nothing to ask.
deps: node_modules/.package-lock.json
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; mkdir -p build; \
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; } >build/apt.log 2>&1 \
	    || { cat build/apt.log; echo "apt-get failed (log above, also in build/apt.log)"; exit 1; }; \
	fi
	scripts/uml-kernel.sh build/uml-kernel
	scripts/unstable-debs.sh $(REFERENCE_DIR) containernetworking-plugins
	scripts/unstable-debs.sh build/go golang-1.26-go golang-1.26-src

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

build: node_modules/.package-lock.json
	node scripts/build.mjs

# The gate before the tests: types, lint (typescript-eslint), formatting (prettier, width 120) and unused
# exports, files and dependencies (knip; prettier runs from here, which knip cannot see).
lint: node_modules/.package-lock.json
	npx tsc --noEmit
	npx eslint --max-warnings 0 .
	npx prettier --check --log-level warn .
	npx knip --no-progress

format: node_modules/.package-lock.json
	npx prettier --write --log-level warn .

# All tiers, never skipped: unit, the built executable as a process, host-kernel namespaces, and the UML kernel.
test: deps lint build
	node test/run.mjs

test-unit:
	$(VITEST) run --project unit

test-host: build
	$(VITEST) run --project host

test-uml: build
	$(VITEST) run --project uml

# The reference's own bridge test suite (../shared/vendor, containernetworking/plugins v1.9.1) against bin/vlan-bridge,
# built with build/go (test/conformance/build.sh). CONFORMANCE_WRITE=1 rewrites test/conformance/expected-counts.json
# from the run (and drops listed divergences no spec shows any more), printing every failing spec's class.
test-conformance: build
	$(VITEST) run --project conformance

# The Kubernetes call chain (test/k8s): crictl (kubelet's CRI calls) to containerd's CRI plugin, Multus v4.3.0,
# NetworkAttachmentDefinitions from an API server stand-in, vlan-bridge; the VLAN NADs in the UML kernel. Multus and
# crictl are built from ../shared/vendor with build/go (test/k8s/build.sh, cached in build/k8s: about 4 minutes
# cold); `make test` builds them in the background while the other tiers run.
test-k8s: build
	$(VITEST) run --project k8s

demo: deps build
	$(BUN) demo/demo.ts

# Ours against the reference plugin, in namespaces made for it and in the UML kernel; RUNS=<n> timed rounds
# (default 40, about 2-3 minutes). Writes bench/results/latest.md and latest.json.
bench: build
	$(BUN) bench/run.ts

# What a logging library would cost a plugin call (peak RSS, time): the comparison behind src/cni/log.ts.
bench-logging: node_modules/.package-lock.json
	$(BUN) bench/logging.ts

# The same atomic, only-when-changed copy the cluster installer (deploy/daemonset.yaml) runs.
install: build
	mkdir -p "$(DESTDIR)$(CNI_BIN_DIR)"
	deploy/install.sh --src $(BIN) --dest "$(DESTDIR)$(CNI_BIN_DIR)"

# Removes the installed executable only if it is ours (see deploy/install.sh --uninstall), under the installer's
# lock. On a node (no DESTDIR) it refuses while pods attached by the plugin remain: their DEL needs it.
uninstall:
	deploy/install.sh --uninstall --dest "$(DESTDIR)$(CNI_BIN_DIR)"$(if $(wildcard $(BIN)), --src $(BIN))$(if $(DESTDIR), --ignore-attachments)

clean:
	rm -rf bin build
