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

A question is scored like :func:`vraagbaak.qa.search.score_all` scores a large local
collection: the union of the dense top-N and the BM25 top-N are the candidates; their
passage and best-sentence similarities are computed exactly from the stored vectors, and
the rankings are fused by :mod:`vraagbaak.qa.fusion` (``rrf``, ``hybrid``, ``dense``,
``bm25``), so every retrieval method means the same thing on both backends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, VraagbaakError
from ..index.analysis import AnalysisSettings, Analyzer
from ..index.encoders import Encoder
from ..index.store import Index, Progress, passage_input
from ..qa.fusion import max_per_group
from ..qa.search import RetrievalSettings, Scores, clean_question, rank
from ..types import Chunk, Hit

_PLAIN = re.compile(r"[a-z0-9]+")
_MAX_VARCHAR = 65_535


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


@dataclass(frozen=True)
class _Chunks:
    """What :func:`vraagbaak.qa.search.rank` reads from an index: chunks by id."""

    chunks: dict[int, Chunk]


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
                raise VraagbaakError(f"Cannot connect to Milvus at {self.uri} ({e}).") from None
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- writing -------------------------------------------------------------

    def sync(self, index: Index, *, batch: int = 512, progress: Progress | None = None) -> int:
        """Replace the collections' contents with ``index`` (passages, sentences, terms).

        Returns:
            The number of passages written.
        """
        from pymilvus import DataType, Function, FunctionType

        c = self.client
        dim = int(index.manifest["encoder"]["dim"])
        for name in (self.passages, self.sentences):
            if c.has_collection(name):
                c.drop_collection(name)

        s = c.create_schema(
            auto_id=False,
            description=json.dumps(
                {"encoder": index.manifest["encoder"], "analysis": index.manifest["analysis"]}
            ),
        )
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
        c.create_collection(self.passages, schema=s, index_params=ip)

        s2 = c.create_schema(auto_id=False)
        s2.add_field("id", DataType.INT64, is_primary=True)
        s2.add_field("chunk_id", DataType.INT64)
        s2.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
        ip2 = c.prepare_index_params()
        ip2.add_index("vec", index_type="AUTOINDEX", metric_type="IP")
        c.create_collection(self.sentences, schema=s2, index_params=ip2)

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
        c.load_collection(self.passages)
        c.load_collection(self.sentences)
        return n

    # -- reading -------------------------------------------------------------

    def _analyzer_for(self) -> Analyzer:
        if self._analyzer is None:
            desc = self.client.describe_collection(self.passages).get("description") or "{}"
            try:
                analysis = json.loads(desc).get("analysis") or {}
            except ValueError:
                analysis = {}
            self._analyzer = Analyzer(AnalysisSettings(**analysis))
        return self._analyzer

    def score(
        self, encoder: Encoder, question: str, *, sources: Iterable[str] | None = None
    ) -> tuple[Scores, dict[int, Chunk]]:
        """Dense, best-sentence and BM25 scores of the candidate passages (as
        :func:`vraagbaak.qa.search.score_all` computes them), and the candidates' chunks.

        Raises:
            IndexMissingError-like VraagbaakError: the collections do not exist.
        """
        c = self.client
        if not c.has_collection(self.passages):
            raise VraagbaakError(
                f"No vraagbaak collections in Milvus at {self.uri}.",
                hint="Copy an index into it with: vraagbaak milvus --uri URI sync",
            )
        q = np.asarray(encoder.encode([question], is_query=True)[0], dtype=np.float32)
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
            # Milvus Lite reports BM25 as a negative distance, a server as a positive score;
            # both list the best first, and only the order matters to the fusion.
            for r in lex_res:
                lexical[int(r["id"])] = abs(float(r["distance"]))
        ids = np.array(sorted({int(r["id"]) for r in dense_res} | set(lexical)), dtype=np.int64)
        if len(ids) == 0:
            empty = np.zeros(0)
            return Scores(ids, empty, empty, empty, empty, np.zeros(1, dtype=np.int64), q), {}
        rows = c.query(self.passages, ids=ids.tolist(), output_fields=["vec", "chunk"])
        by_id = {int(r["id"]): r for r in rows}
        chunks = {i: Chunk.from_dict(json.loads(by_id[i]["chunk"])) for i in ids.tolist()}
        pv = np.array([by_id[i]["vec"] for i in ids.tolist()], dtype=np.float32)
        dense = (pv @ q).astype(np.float64)
        srows = c.query(
            self.sentences, filter=f"chunk_id in {ids.tolist()}", output_fields=["chunk_id", "vec"]
        )
        per: dict[int, list[tuple[int, list[float]]]] = {}
        for r in srows:
            per.setdefault(int(r["chunk_id"]), []).append((int(r["id"]), r["vec"]))
        vecs = [v for cid in ids.tolist() for _, v in sorted(per.get(cid, []))]
        counts = [len(per.get(cid, [])) for cid in ids.tolist()]
        sent_off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        sent_sims = (
            (np.array(vecs, dtype=np.float32) @ q).astype(np.float64) if vecs else np.zeros(0)
        )
        sentence = max_per_group(sent_sims, sent_off, empty=-1.0)
        lex = np.array([lexical.get(i, 0.0) for i in ids.tolist()], dtype=np.float64)
        return Scores(ids, dense, sentence, lex, sent_sims, sent_off, q), chunks

    def search(
        self,
        encoder: Encoder,
        question: str,
        *,
        top_k: int = 5,
        method: str = "hybrid",
        sources: Iterable[str] | None = None,
        retrieval: RetrievalSettings | None = None,
    ) -> list[Hit]:
        """The passages that best match ``question``, fused as the local backend fuses."""
        if top_k <= 0:
            raise InputError(f"top_k must be greater than 0. Currently top_k is {top_k}.")
        q = clean_question(question)
        base = retrieval or RetrievalSettings()
        rs = RetrievalSettings(**{**base.__dict__, "method": method})
        scores, chunks = self.score(encoder, q, sources=sources)
        return rank(_Chunks(chunks), scores, rs, top_k=top_k)  # type: ignore[arg-type]

    def count(self) -> int:
        """Passages in the collection."""
        res = self.client.query(self.passages, filter="", output_fields=["count(*)"])
        return int(res[0]["count(*)"])
