# make run  — install what the binary needs, build the binary only, start tollgate on its embedded defaults
# make test — install everything tests need, build everything, then every test
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps deps-build configure build build-tollgate run test bench sanitize clean format

all: build

deps-build:
	@bash scripts/install-deps build

deps:
	@bash scripts/install-deps test

# Configured once; later runs of make only build.
$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

configure: $(BUILD)/CMakeCache.txt

build-tollgate: deps-build configure
	cmake --build $(BUILD) -j $(JOBS) --target tollgate

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

run: build-tollgate
	./$(BUILD)/tollgate

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench:
	@bash scripts/install-deps bench
	bash bench/run.sh

sanitize:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DTOLLGATE_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo"

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) build-asan
