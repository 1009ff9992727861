"""A Milvus backend: the same candidate scoring and fusion as the local index, served by
Milvus (a local Milvus Lite ``.db`` file or a Milvus server/cluster URI).

Passages are prepared by the local ingest (reading, chunking, embedding) and copied into
two Milvus collections with :meth:`MilvusBackend.sync`:

- ``<name>_passages``: id, the passage vector (``FLOAT_VECTOR``, inner product), the
  passage's BM25 terms as a text field with Milvus' built-in BM25 function (a sparse
  ``SPARSE_FLOAT_VECTOR`` it fills itself), the source name and the chunk as JSON;
- ``<name>_sentences``: one row per sentence: its vector and its passage's id.

The terms are those of :class:`vraagbaak.index.analysis.Analyzer` (folding, stopwords,
stemming, compound parts), each written as one ``[a-z0-9]`` word (see
:func:`milvus_terms`), so Milvus' ``standard`` tokenizer (the one Milvus Lite offers
besides Chinese ``jieba``) splits them exactly as the local index does: lexical matching is
the same as local; only BM25's parameters and idf details are Milvus' own.

Milvus proposes the candidates of a question, as FAISS and the BM25 top-N do in a large
local index: :class:`MilvusRetriever` (the :class:`vraagbaak.qa.search.Retriever` that
:class:`vraagbaak.Vraagbaak` uses with ``Settings(backend="milvus")``, the CLI's
``--backend milvus --uri URI``) takes the union of Milvus' dense top-N and BM25 top-N
(:meth:`MilvusBackend.retrieve`). Everything after that is the local pipeline: the
candidates are scored exactly from the local index (vectors and BM25), fused and answered
by :mod:`vraagbaak.qa.pipeline`, so rankings, answers and the calibrated abstention mean
the same on both backends, and the local index stays the source of texts and citations.
:meth:`MilvusBackend.sync` records a fingerprint of the index it copied (as a collection
property, after the last row), so a stale or half-written copy is refused
(:meth:`MilvusBackend.check`) instead of citing wrong passages.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, VraagbaakError
from ..index.analysis import Analyzer
from ..index.reader import Index
from ..index.store import Progress, passage_input
from ..qa.question import Question
from ..qa.search import Proposal
from ..settings import AnalysisSettings

_PLAIN = re.compile(r"[a-z0-9]+")
_MAX_VARCHAR = 65_535
_META = "vraagbaak.meta"


def milvus_term(term: str) -> str:
    """One analysed term as a single ``[a-z0-9]+`` word (injective).

    Plain terms not starting with ``q`` stay as they are; any other term becomes ``q``
    plus the hex of its UTF-8 bytes ("50.000" -> "q35302e303030").
    """
    if _PLAIN.fullmatch(term) and not term.startswith("q"):
        return term
    return "q" + term.encode("utf-8").hex()


def milvus_terms(analyzer: Analyzer, text: str) -> str:
    """The text Milvus indexes for ``text``: its analysed terms, space-joined."""
    return " ".join(milvus_term(t) for t in analyzer.terms(text))


def index_fingerprint(index: Index) -> str:
    """A digest of the index's files (from its manifest's checksums): equal fingerprints,
    equal chunk ids, texts and vectors."""
    sums = json.dumps(index.manifest.get("checksums", {}), sort_keys=True)
    return hashlib.sha256(sums.encode("utf-8")).hexdigest()


@contextmanager
def _milvus_errors(uri: str) -> Iterator[None]:
    """Turn pymilvus' errors (a lost server, a refused request) into one VraagbaakError."""
    from pymilvus.exceptions import MilvusException

    try:
        yield
    except MilvusException as e:
        raise VraagbaakError(f"Milvus at {uri} failed: {e.message}") from None


class MilvusBackend:
    """Search a copy of an index held by Milvus.

    Construction only stores settings; the connection opens on first use.

    Args:
        uri: a Milvus Lite file (``./vraagbaak.db``) or a server (``http://host:19530``).
        name: collection name prefix.
        token: credentials for a server (``user:password`` or an API key).
        candidates: how many passages each of the dense and the BM25 search contributes.
    """

    def __init__(
        self, uri: str, *, name: str = "vraagbaak", token: str | None = None, candidates: int = 200
    ) -> None:
        if not uri:
            raise InputError("The Milvus URI is empty. Give a .db file or http://host:19530.")
        if candidates <= 0:
            raise InputError(f"candidates must be greater than 0. Currently {candidates}.")
        self.uri = uri
        self.name = name
        self.token = token
        self.candidates = candidates
        self._client: Any = None
        self._analyzer: Analyzer | None = None
        self._loaded: set[str] = set()

    @property
    def passages(self) -> str:
        return f"{self.name}_passages"

    @property
    def sentences(self) -> str:
        return f"{self.name}_sentences"

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                from pymilvus import MilvusClient
            except ImportError:
                raise VraagbaakError(
                    "The Milvus backend needs pymilvus.",
                    hint="Install it with: pip install 'vraagbaak[milvus]'",
                ) from None
            try:
                kw = {"token": self.token} if self.token else {}
                self._client = MilvusClient(self.uri, **kw)
            except Exception as e:  # pymilvus raises several unrelated types
                why = getattr(e, "message", None) or e
                raise VraagbaakError(f"Cannot connect to Milvus at {self.uri} ({why}).") from None
        return self._client

    @property
    def ingest_hint(self) -> str:
        return (
            f"Copy the index into it with: vraagbaak --backend milvus --uri {self.uri} "
            "ingest [PATH ...]"
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
            self._loaded.clear()

    def _load(self, *names: str) -> None:
        """Load collections into memory once per connection (Milvus Lite forgets it between
        processes; on a server, loading a loaded collection does nothing)."""
        for name in names:
            if name not in self._loaded:
                self.client.load_collection(name)
                self._loaded.add(name)

    # -- writing -------------------------------------------------------------

    def sync(self, index: Index, *, batch: int = 512, progress: Progress | None = None) -> int:
        """Replace the collections' contents with ``index`` (passages, sentences, terms).

        Returns:
            The number of passages written.

        Raises:
            VraagbaakError: Milvus cannot be reached or refuses the data.
        """
        c = self.client
        with _milvus_errors(self.uri):
            return self._sync(c, index, batch=batch, progress=progress)

    def _sync(self, c: Any, index: Index, *, batch: int, progress: Progress | None) -> int:
        from pymilvus import DataType, Function, FunctionType

        dim = int(index.manifest["encoder"]["dim"])
        for name in (self.passages, self.sentences):
            if c.has_collection(name):
                c.drop_collection(name)

        s = c.create_schema(auto_id=False, description="vraagbaak passages")
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
        s.add_field(
            "terms",
            DataType.VARCHAR,
            max_length=_MAX_VARCHAR,
            enable_analyzer=True,
            analyzer_params={"tokenizer": "standard"},
        )
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_field("source", DataType.VARCHAR, max_length=2048)
        s.add_field("chunk", DataType.VARCHAR, max_length=_MAX_VARCHAR)
        s.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["terms"],
                output_field_names=["sparse"],
            )
        )
        ip = c.prepare_index_params()
        ip.add_index("vec", index_type="AUTOINDEX", metric_type="IP")
        ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        # Milvus Lite builds indexes at once and cannot report their state: don't wait.
        wait = not self.uri.endswith(".db")
        c.create_collection(self.passages, schema=s)
        c.create_index(self.passages, ip, sync=wait)

        s2 = c.create_schema(auto_id=False)
        s2.add_field("id", DataType.INT64, is_primary=True)
        s2.add_field("chunk_id", DataType.INT64)
        s2.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
        ip2 = c.prepare_index_params()
        ip2.add_index("vec", index_type="AUTOINDEX", metric_type="IP")
        c.create_collection(self.sentences, schema=s2)
        c.create_index(self.sentences, ip2, sync=wait)

        analyzer = index.analyzer
        pv, sv, off = index.passage_vectors, index.sentence_vectors, index.sent_offsets
        n = len(index.chunks)
        for a in range(0, n, batch):
            rows, srows = [], []
            for ch in index.chunks[a : a + batch]:
                terms = milvus_terms(analyzer, passage_input(ch))
                rows.append(
                    {
                        "id": ch.id,
                        "vec": np.asarray(pv[ch.id], dtype=np.float32).tolist(),
                        "terms": terms[:_MAX_VARCHAR].rsplit(" ", 1)[0]
                        if len(terms) > _MAX_VARCHAR
                        else terms,
                        "source": ch.source,
                        "chunk": json.dumps(ch.to_dict(), ensure_ascii=False),
                    }
                )
                for j in range(int(off[ch.id]), int(off[ch.id + 1])):
                    srows.append(
                        {
                            "id": j,
                            "chunk_id": ch.id,
                            "vec": np.asarray(sv[j], dtype=np.float32).tolist(),
                        }
                    )
            c.insert(self.passages, rows)
            if srows:
                c.insert(self.sentences, srows)
            if progress:
                progress("milvus", min(n, a + batch), n)
        self._loaded.clear()
        self._load(self.passages, self.sentences)
        # Recorded last: a copy cut short has no fingerprint and counts as out of date.
        meta = {
            "encoder": index.manifest["encoder"],
            "analysis": index.manifest["analysis"],
            "fingerprint": index_fingerprint(index),
        }
        c.alter_collection_properties(self.passages, {_META: json.dumps(meta)})
        self._analyzer = None
        return n

    def _description(self) -> dict[str, Any] | None:
        """What :meth:`sync` recorded with the passages collection (``{}`` when it did not
        finish), or None when there is no collection."""
        c = self.client
        with _milvus_errors(self.uri):
            if not c.has_collection(self.passages):
                return None
            props = c.describe_collection(self.passages).get("properties") or {}
        try:
            info = json.loads(props.get(_META) or "{}")
        except ValueError:
            return {}
        return info if isinstance(info, dict) else {}

    def is_current(self, index: Index) -> bool:
        """Whether the collections hold a complete copy of exactly ``index``."""
        info = self._description()
        return (
            info is not None
            and info.get("fingerprint") == index_fingerprint(index)
            and self.count() == len(index.chunks)
        )

    def check(self, index: Index) -> None:
        """Make sure the collections are a complete copy of ``index``.

        Raises:
            VraagbaakError: the collections are missing, or hold another (or a partly
                copied) version of the index.
        """
        if self._description() is None:
            raise VraagbaakError(
                f"No vraagbaak collections in Milvus at {self.uri}.", hint=self.ingest_hint
            )
        if not self.is_current(index):
            raise VraagbaakError(
                f"The vraagbaak collections in Milvus at {self.uri} are out of date: they do "
                f"not hold the index at {index.root.parent}.",
                hint=self.ingest_hint,
            )

    # -- reading -------------------------------------------------------------

    def _analyzer_for(self) -> Analyzer:
        if self._analyzer is None:
            analysis = (self._description() or {}).get("analysis") or {}
            self._analyzer = Analyzer(AnalysisSettings(**analysis))
        return self._analyzer

    def retrieve(
        self, query_vec: np.ndarray, question: str, *, sources: Iterable[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The candidate passages for a question: Milvus' dense top-N and BM25 top-N.

        Args:
            query_vec: the question's embedding.
            question: the question (analysed as the passages were).
            sources: only passages of these sources.

        Returns:
            The candidates' chunk ids (ascending) and their BM25 scores (0 for candidates
            only the dense search found).

        Raises:
            VraagbaakError: the collections do not exist, or Milvus fails.
        """
        c = self.client
        with _milvus_errors(self.uri):
            if not c.has_collection(self.passages):
                raise VraagbaakError(
                    f"No vraagbaak collections in Milvus at {self.uri}.", hint=self.ingest_hint
                )
            self._load(self.passages)
            q = np.asarray(query_vec, dtype=np.float32)
            flt = ""
            if sources:
                names = sorted(set(sources))
                flt = "source in [" + ", ".join(json.dumps(s) for s in names) + "]"
            dense_res = c.search(
                self.passages,
                data=[q.tolist()],
                anns_field="vec",
                limit=self.candidates,
                filter=flt,
                output_fields=["id"],
                search_params={"metric_type": "IP"},
            )[0]
            lexical: dict[int, float] = {}
            terms = milvus_terms(self._analyzer_for(), question)
            if terms:
                lex_res = c.search(
                    self.passages,
                    data=[terms],
                    anns_field="sparse",
                    limit=self.candidates,
                    filter=flt,
                    output_fields=["id"],
                    search_params={"metric_type": "BM25"},
                )[0]
                # Milvus Lite reports BM25 as a negative distance, a server as a positive
                # score; both list the best first, and only the order matters to the fusion.
                for r in lex_res:
                    lexical[int(r["id"])] = abs(float(r["distance"]))
        ids = np.array(sorted({int(r["id"]) for r in dense_res} | set(lexical)), dtype=np.int64)
        lex = np.array([lexical.get(i, 0.0) for i in ids.tolist()], dtype=np.float64)
        return ids, lex

    def count(self) -> int:
        """Passages in the collection."""
        c = self.client
        with _milvus_errors(self.uri):
            self._load(self.passages)
            res = c.query(self.passages, filter="", output_fields=["count(*)"])
        return int(res[0]["count(*)"])


@dataclass
class MilvusRetriever:
    """Candidate passages from Milvus (a :class:`vraagbaak.qa.search.Retriever`).

    The first question for an index checks that Milvus holds a complete copy of it
    (:meth:`MilvusBackend.check`); the candidates' BM25 scores are the local index's, so
    fusion and abstention mean the same as locally.
    """

    backend: MilvusBackend
    checked: Index | None = None

    def propose(self, index: Index, question: Question, sources: list[str] | None) -> Proposal:
        if self.checked is not index:
            self.backend.check(index)
            self.checked = index
        ids, _ = self.backend.retrieve(question.vector, question.text, sources=sources)
        return Proposal(ids, index.lexical_scores(question.terms)[ids])

