"""Index storage behind small interfaces (see ``base.py``); ``local`` is bm25s + FAISS + files.

    backend = open_backend(index_dir)            # the engine the manifest names
    backend.lexical.search(terms, 100, Filters.of(year=2022))  -> [Candidate(id, score), ...]
    with open_writer(index_dir) as w:            # one writer (flock); upsert/delete by file
        w.upsert(file, chunks, units, terms, pairs, vectors); w.commit(manifest)

Nothing outside this package knows an index file name.
"""
from index.store.base import (NO_FILTERS, Backend, Candidate, ChunkStore, Filters, IndexLockedError, IndexStoreError,
                              IndexWriter, LexicalIndex, VectorIndex)
from index.store.factory import BACKENDS, index_exists, open_backend, open_writer, read_manifest, stamp
from index.store.manifest import FORMAT_VERSION, FileEntry, Manifest

__all__ = ["Backend", "BACKENDS", "Candidate", "ChunkStore", "FileEntry", "Filters", "FORMAT_VERSION",
           "IndexLockedError", "IndexStoreError", "IndexWriter", "LexicalIndex", "Manifest", "NO_FILTERS",
           "VectorIndex", "index_exists", "open_backend", "open_writer", "read_manifest", "stamp"]
