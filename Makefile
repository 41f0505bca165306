# vigil: `make` installs what is missing and builds; `make test` runs the whole suite; `make demo` runs the demo.
SHELL := /bin/bash
.DEFAULT_GOAL := build

# opencv4nodejs must build against Debian's OpenCV, never download its own (see README).
export OPENCV4NODEJS_DISABLE_AUTOBUILD := 1
# onnxruntime-node ships its CPU runtime inside the npm package; its install script would also try to download
# optional GPU binaries from the network, which is not there (and not needed).
export ONNXRUNTIME_NODE_INSTALL := skip

# libasound2-dev lets naudiodon (PortAudio) build with ALSA; xvfb and x11-utils let the tests open the console's OpenCV preview window on a virtual display.
APT_PACKAGES := libopencv-dev opencv-data ffmpeg libasound2-dev xvfb x11-utils chromium nats-server haproxy
SOURCES := $(shell find src test bench -name '*.ts' 2>/dev/null) tsconfig.json
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: build deps system-deps lint test demo bench bench-readme client-pack clean

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# OpenCV, onnxruntime and naudiodon are optional dependencies so that a candidate-only install can leave them
# out (see `client-pack`); npm then also shrugs off one that fails to build, so the full install checks for them.
node_modules/.vigil-installed: package.json package-lock.json | system-deps
	npm ci --no-audit --no-fund
	@node -e "for (const m of ['@u4/opencv4nodejs', 'onnxruntime-node', 'naudiodon']) try { require.resolve(m) } catch { console.error('make: ' + m + ' did not install (see npm\'s messages above); the server and the detector need it'); process.exit(1) }"
	@touch $@

deps: system-deps node_modules/.vigil-installed

dist/.vigil-built: node_modules/.vigil-installed $(SOURCES)
	npx tsc -p tsconfig.json
	@touch $@

# The candidate page: type-checked with the DOM's types, bundled with src/protocol (and a Buffer for it) by esbuild.
WEB_SOURCES := $(wildcard src/web/*) $(wildcard src/protocol/*.ts)
dist/web/index.html: node_modules/.vigil-installed $(WEB_SOURCES)
	npx tsc -p src/web/tsconfig.json
	npx esbuild src/web/page.ts --bundle --format=esm --target=es2022 --minify --inject:src/web/buffer-shim.ts --outfile=dist/web/app.js --log-level=warning
	npx esbuild src/web/mic-worklet.ts --format=esm --target=es2022 --minify --outfile=dist/web/mic-worklet.js --log-level=warning
	cp src/web/index.html src/web/style.css dist/web/

build: deps dist/.vigil-built dist/web/index.html

# typescript-eslint with type information: floating promises, misused promises, non-exhaustive switches.
lint: deps
	npx eslint --max-warnings 0 src test bench

test: build lint
	node --test --test-concurrency=2 --test-reporter=spec dist/test/

# The candidate's package: `npm install --omit=optional vigil-VERSION.tgz` needs Node 20 and ffmpeg, nothing to compile.
client-pack: build
	mkdir -p pack && npm pack --pack-destination pack

demo: build
	bash scripts/demo.sh

.PHONY: demo-cluster
demo-cluster: build
	bash scripts/demo-cluster.sh

# Each bench writes bench/results/NAME.md; bench-readme copies them into README.md's <!-- bench:NAME --> sections.
bench: build
	node dist/bench/protocol.js
	node dist/bench/report.js
	node dist/bench/ingest.js
	node dist/bench/ingest.js --codec h264
	node dist/bench/codec.js
	node dist/bench/detect.js
	node dist/bench/hostile.js
	node dist/bench/fuzz.js
	node dist/bench/cluster.js
	node dist/bench/vad.js
	node dist/bench/console.js
	node dist/bench/readme.js

bench-readme: build
	node dist/bench/readme.js

clean:
	rm -rf dist pack
