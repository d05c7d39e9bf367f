# kosearch — the two Quick start commands are `make run` and `make test`.
VENV      ?= .venv
PY        := $(VENV)/bin/python
KOSEARCH  := $(VENV)/bin/kosearch
STAMP     := $(VENV)/.kosearch-installed
INDEX_DIR ?= .kosearch/index
HOST      ?= 127.0.0.1
PORT      ?= 7860
BENCHMARK ?= ../shared/benchmarks/autorag-ko
MILVUS_URI ?= .kosearch/milvus.db
MILVUS_INDEX_DIR ?= .kosearch/index-milvus

.PHONY: run test install index eval bench bench-1m clean bundle

install: $(STAMP)

# torch is installed first and pinned to the CPU wheel, so sentence-transformers
# does not pull a multi-GB CUDA build. pip's cache keeps re-installs fast.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,milvus]'
	touch $(STAMP)

index: $(STAMP)
	$(KOSEARCH) index corpus --index-dir $(INDEX_DIR)

run: index
	$(KOSEARCH) serve --host $(HOST) --port $(PORT) --index-dir $(INDEX_DIR)

test: $(STAMP)
	$(PY) -m pytest

# both storage backends side by side: AutoRAG through local and Milvus Lite, and the question set's
# rankings and confidence labels on a Milvus copy of the corpus index (issue 19)
eval: index
	$(KOSEARCH) index corpus --index-dir $(MILVUS_INDEX_DIR) --backend milvus --uri $(MILVUS_URI) -q
	$(KOSEARCH) eval $(BENCHMARK) --mode all --compare-milvus $(MILVUS_URI)
	$(KOSEARCH) eval --qa tests/data/corpus_qa.jsonl --index-dir $(INDEX_DIR) --mode all --compare-index-dir $(MILVUS_INDEX_DIR)

bench: $(STAMP)
	$(PY) -m bench

# One machine, a million chunks (issue 18): build a synthetic 1M-chunk index, query it in a fresh
# process; ends with the `bench-1m: chunks=… rss_anon_mb=… …` line. BENCH_1M_ARGS: e.g. --chunks 200000, --reuse.
BENCH_1M_ARGS ?=
bench-1m: $(STAMP)
	$(PY) bench/bench_1m.py $(BENCH_1M_ARGS)

# Offline bundle for air-gapped networks (issue 17): dist/kosearch-offline-<version>-linux-x86_64-py311.tar.gz.
# BUNDLE_EXTRAS: extras put in when pyproject defines them; WITH_TESTS=1 adds [test] and tests/.
BUNDLE_EXTRAS ?= milvus
WITH_TESTS    ?=
bundle: $(STAMP)
	$(PY) packaging/build_bundle.py --extras '$(BUNDLE_EXTRAS)' $(if $(filter 1 yes true,$(WITH_TESTS)),--with-tests)

clean:
	rm -rf $(VENV) .kosearch
