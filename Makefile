# kosearch — the two Quick start commands are `make run` and `make test`.
VENV      ?= .venv
PY        := $(VENV)/bin/python
KOSEARCH  := $(VENV)/bin/kosearch
STAMP     := $(VENV)/.kosearch-installed
INDEX_DIR ?= .kosearch/index
HOST      ?= 127.0.0.1
PORT      ?= 7860
BENCHMARK ?= ../shared/benchmarks/autorag-ko

.PHONY: run test install index eval bench clean bundle

install: $(STAMP)

# torch is installed first and pinned to the CPU wheel, so sentence-transformers
# does not pull a multi-GB CUDA build. pip's cache keeps re-installs fast.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

index: $(STAMP)
	$(KOSEARCH) index corpus --index-dir $(INDEX_DIR)

run: index
	$(KOSEARCH) serve --host $(HOST) --port $(PORT) --index-dir $(INDEX_DIR)

test: $(STAMP)
	$(PY) -m pytest

eval: index
	$(KOSEARCH) eval $(BENCHMARK) --mode all
	$(KOSEARCH) eval --qa tests/data/corpus_qa.jsonl --index-dir $(INDEX_DIR) --mode all

bench: $(STAMP)
	$(PY) -m bench

# Offline bundle for air-gapped networks (issue 17): dist/kosearch-offline-<version>-linux-x86_64-py311.tar.gz.
# BUNDLE_EXTRAS: extras put in when pyproject defines them; WITH_TESTS=1 adds [test] and tests/.
BUNDLE_EXTRAS ?= milvus
WITH_TESTS    ?=
bundle: $(STAMP)
	$(PY) packaging/build_bundle.py --extras '$(BUNDLE_EXTRAS)' $(if $(filter 1 yes true,$(WITH_TESTS)),--with-tests)

clean:
	rm -rf $(VENV) .kosearch
