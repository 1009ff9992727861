"""Ingest benchmark: how fast a corpus is indexed, and how much of that is the encoder.

For each of ``--repeat`` rounds (medians are reported; the machine is shared and noisy):

1. a full build of the corpus into a fresh index folder with an empty embedding cache:
   passages/s, characters/s, and the ratio of the whole ingest's time to the time the
   encoder itself spent encoding (measured around every ``encode`` call of that ingest;
   target <= 1.10);
2. a second ingest of the unchanged corpus into the same index, as a share of the first
   (target <= 0.05);
3. a rebuild into a fresh index folder with the warm cache (nothing re-embedded).

It also encodes the same texts once more outside the ingest, in the ingest's batches,
to check the in-ingest encoder time against the encoder on its own.

    python bench/bench_ingest.py [--corpus DIR] [--repeat 3] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vraagbaak import Settings  # noqa: E402
from vraagbaak.index.builder import ingest  # noqa: E402
from vraagbaak.index.encoders import settings_encoder  # noqa: E402


class EncoderTimer:
    """Wraps an encoder instance's ``encode`` (and ``encode_parts``, the one pass per
    passage of ``e5``) to add up the time spent in them."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.seconds = 0.0
        self.texts: list[tuple[str, list[Any]]] = []

    def __enter__(self) -> EncoderTimer:
        for name in ("encode", "encode_parts"):
            inner = getattr(self.encoder, name, None)
            if inner is not None:
                setattr(self.encoder, name, self._timed(name, inner))
        return self

    def _timed(self, name: str, inner: Any) -> Any:
        def timed(items: list[Any], **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return inner(items, **kw)
            finally:
                self.seconds += time.perf_counter() - t0
                self.texts.append((name, list(items)))

        return timed

    def __exit__(self, *exc: object) -> None:
        for name in ("encode", "encode_parts"):
            self.encoder.__dict__.pop(name, None)  # back to the class's method


def one_round(corpus: Path, encoder_spec: str, work: Path) -> dict[str, Any]:
    settings = Settings(index_dir=work / "index", cache_dir=work / "cache", encoder=encoder_spec)
    encoder = settings_encoder(settings)
    encoder.encode(["opwarmen"])  # load the model outside the timings
    with EncoderTimer(encoder) as timer:
        t0 = time.perf_counter()
        first = ingest([corpus], settings)
        full = time.perf_counter() - t0
    batches = timer.texts
    chars = sum(len(p.read_text(encoding="utf-8", errors="replace"))
                for p in corpus.rglob("*") if p.is_file() and p.suffix in {".txt", ".md"})

    t0 = time.perf_counter()
    second = ingest([corpus], settings)
    again = time.perf_counter() - t0

    warm = settings.with_(index_dir=work / "index2")
    t0 = time.perf_counter()
    rebuilt = ingest([corpus], warm)
    cached = time.perf_counter() - t0

    t0 = time.perf_counter()  # the encoder on its own, same texts, same batches
    for name, b in batches:
        getattr(encoder, name)(b)
    alone = time.perf_counter() - t0
    return {
        "passages": first.chunks, "texts_encoded": first.encoded, "characters": chars,
        "full_s": full, "encoder_in_ingest_s": timer.seconds, "encoder_alone_s": alone,
        "overhead_ratio": full / timer.seconds if timer.seconds else None,
        "overhead_ratio_vs_alone": full / alone if alone else None,
        "passages_per_s": first.chunks / full, "chars_per_s": chars / full,
        "second_s": again, "second_share": again / full, "second_up_to_date": second.up_to_date,
        "rebuild_from_cache_s": cached, "rebuild_encoded": rebuilt.encoded,
    }


def run(corpus: Path, encoder_spec: str = "e5", repeat: int = 3) -> dict[str, Any]:
    rounds = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="vb-bench-ingest-") as tmp:
            rounds.append(one_round(corpus, encoder_spec, Path(tmp)))
    keys = [k for k, v in rounds[0].items() if isinstance(v, float)]
    med = {k: statistics.median(r[k] for r in rounds) for k in keys}
    return {"corpus": str(corpus), "encoder": encoder_spec, "repeat": repeat,
            "passages": rounds[0]["passages"], "characters": rounds[0]["characters"],
            "texts_encoded": rounds[0]["texts_encoded"], "median": med, "rounds": rounds}


def print_summary(r: dict[str, Any]) -> None:
    m = r["median"]
    print(f"corpus {r['corpus']}: {r['passages']} passages, {r['characters']:,} characters, "
          f"{r['texts_encoded']} texts embedded; encoder {r['encoder']}; "
          f"medians of {r['repeat']} rounds")
    print(f"  full build (empty cache):   {m['full_s']:.2f} s  = "
          f"{m['passages_per_s']:.1f} passages/s, {m['chars_per_s']:,.0f} characters/s")
    print(f"  encoder time inside it:     {m['encoder_in_ingest_s']:.2f} s  -> ingest / encoder = "
          f"{m['overhead_ratio']:.3f}  (target <= 1.10)")
    print(f"  encoder alone, same texts:  {m['encoder_alone_s']:.2f} s  -> "
          f"ingest / encoder alone = {m['overhead_ratio_vs_alone']:.3f}")
    print(f"  second ingest (unchanged):  {m['second_s']:.3f} s  = {m['second_share']:.4f} of the "
          "first  (target <= 0.05)")
    print(f"  fresh index, warm cache:    {m['rebuild_from_cache_s']:.2f} s  "
          f"({r['rounds'][0]['rebuild_encoded']} texts re-embedded)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    ap.add_argument("--encoder", default="e5")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    r = run(args.corpus, args.encoder, args.repeat)
    print_summary(r)
    if args.json:
        args.json.write_text(json.dumps(r, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
