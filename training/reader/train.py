"""Train the reading model: e5-small as a cross-encoder over (question, sentence) pairs.

Input text ``"{question} passage: {sentence}"`` (the engine adds ``"query: "``), label 1 when
the sentence answers the question; with ``--context``, ``" context: {the sentence before
it}"`` follows (``vraagbaak.qa.reader.pair_text``), as ``ask`` then reads it. ``--init``
starts from a packaged reader instead of the base model. Pointwise binary cross-entropy
on a linear head over the normalised mean-pooled vector (``--listwise SIZE`` adds a softmax
over each question's paragraph sentences, read in one batch); the top layers train
quantization-aware (see ``model.py``),
the word embeddings and the bottom layers stay as shipped. Checkpoints every few minutes;
``--resume`` continues from the last one; ``--minutes`` bounds the run and writes the model.
``--code-switch P`` replaces, in that share of the pairs, some English words by Dutch ones
(``code_switch.py``: a bilingual dictionary's translations).

    OMP_WAIT_POLICY=PASSIVE python -m training.reader.train --minutes 90
    python -m training.reader.export      # writes vraagbaak/data/reader/
    python -m training.reader.heldout --checkpoint training/out/checkpoint.pt   # quick check
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
import re
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn import functional as F

from vraagbaak.index.e5file import E5File
from vraagbaak.qa.reader import base_model_path, pair_text

from .model import E5CrossEncoder, batch
from .prepare import overlap, words

MAX_TOKENS = 96


Pair = tuple[str, str, str, int]  # question, sentence, its context (see pair_text), label
Context = Callable[[dict, str], str]  # (group, sentence) -> what the model reads beside it


def previous_sentences(groups: list[dict]) -> dict[tuple[str, str], str]:
    """(article, sentence) -> the sentence before it in its paragraph ("" for a first one),
    from every group's paragraph, so that sentences of other paragraphs get theirs too."""
    out: dict[tuple[str, str], str] = {}
    for g in groups:
        for i, s in enumerate(g["sents"]):
            out.setdefault((g["article"], s), g["sents"][i - 1] if i else "")
    return out


def article_title(g: dict) -> str:
    """The title of a group's article ("squad-…/1973_oil_crisis" -> "1973 oil crisis")."""
    return g["article"].split("/", 1)[-1].replace("_", " ")


def contexts(groups: list[dict], mode: str, title_dropout: float = 0.0) -> Context:
    """What a model trained with context ``mode`` (one of ``vraagbaak.qa.reader.CONTEXTS``)
    reads beside a group's sentence: the sentence before it, its article's title, or
    nothing. With ``title_dropout`` that share of (question, sentence) pairs, chosen by a
    hash (the same on every run), reads no title, so the model also learns to answer
    without leaning on it."""
    if mode == "previous":
        prev = previous_sentences(groups)
        return lambda g, s: prev.get((g["article"], s), "")
    if mode == "title":
        if title_dropout <= 0:
            return lambda g, s: article_title(g)

        def titled(g: dict, s: str) -> str:
            h = hashlib.sha256(f"{g['q']}\0{s}".encode()).digest()
            return "" if int.from_bytes(h[:4], "big") / 2**32 < title_dropout else article_title(g)

        return titled
    return no_context


def no_context(g: dict, s: str) -> str:
    return ""


def pairs_of(
    g: dict, rng: random.Random, negatives: int, context: Context = no_context
) -> list[Pair]:
    """A group's training pairs: its answering sentence(s), the ``negatives`` paragraph
    sentences sharing most words with the question, a random other one, and the best
    sentence of another paragraph; each with its ``context``."""
    q, sents, labels = g["q"], g["sents"], g["labels"]

    out = [(q, s, context(g, s), 1) for s, lab in zip(sents, labels, strict=True) if lab]
    qw = words(q)
    neg = [s for s, lab in zip(sents, labels, strict=True) if not lab and len(s) > 15]
    neg.sort(key=lambda s: -overlap(qw, s))
    chosen = neg[:negatives]
    rest = neg[negatives:]
    if rest:
        chosen.append(rng.choice(rest))
    if g["others"]:
        chosen.append(g["others"][0])
    out += [(q, s, context(g, s), 0) for s in chosen]
    return out


_DETERMINERS = frozenset(("the", "a", "an", "my", "your", "his", "her", "their", "our",
                          "this", "these", "that", "which", "each", "every"))
_WORDS = re.compile(r"[^\W\d_][\w'-]*")


def subject_words(text: str) -> list[str]:
    """The words of ``text`` after a determiner ("the *treaty*"): mostly what it is about."""
    words = _WORDS.findall(text)
    return [w for prev, w in itertools.pairwise(words)
            if prev.lower() in _DETERMINERS and w.lower() not in _DETERMINERS and len(w) > 3]


def swapped_pairs(groups: list[dict], share: float, rng: random.Random,
                  context: Context = no_context) -> list[Pair]:
    """Negatives for a question whose page is missing: for ``share`` of the answerable
    groups, the question with its last subject word that the answering sentence names
    swapped for a noun of another question that its paragraph does not hold ("How much
    does a passport cost?" -> "… a licence …"), paired with the sentence that answered
    it."""
    pool = sorted({w for g in groups for w in subject_words(g["q"])
                   if w.isalpha() and w.islower() and len(w) >= 6
                   and not w.endswith(("ed", "ing", "ly"))})
    out: list[Pair] = []
    for g in groups:
        pos = [s for s, lab in zip(g["sents"], g["labels"], strict=True) if lab]
        # only a subject the answering sentence names: then the swap is a real mismatch
        subjects = [w for w in subject_words(g["q"])
                    if pos and re.search(rf"\b{re.escape(w)}\b", pos[0], re.IGNORECASE)]
        if not subjects or rng.random() >= share:
            continue
        text = " ".join(g["sents"]).lower()
        old = subjects[-1]
        for _ in range(20):
            new = rng.choice(pool)
            if new != old.lower() and new not in text:
                q = re.sub(rf"\b{re.escape(old)}\b", new, g["q"], count=1)
                out.append((q, pos[0], context(g, pos[0]), 0))
                break
    return out


def group_items(
    g: dict, rng: random.Random, size: int, context: Context = no_context
) -> list[Pair]:
    """A group for the listwise loss: its answering sentence first, then up to ``size`` - 1
    other sentences of its paragraph (all of them when they fit, else the ones sharing most
    words with the question and random ones), and the best sentence of another paragraph.
    Unanswerable questions give only negatives."""
    q, sents, labels = g["q"], g["sents"], g["labels"]

    pos = [s for s, lab in zip(sents, labels, strict=True) if lab]
    neg = [s for s, lab in zip(sents, labels, strict=True) if not lab and len(s) > 15]
    if len(neg) > size - 1:
        qw = words(q)
        neg.sort(key=lambda s: -overlap(qw, s))
        hard = (size - 1) // 2
        neg = neg[:hard] + rng.sample(neg[hard:], size - 1 - hard)
    if g["others"]:
        neg.append(g["others"][0])
    return [(q, s, context(g, s), 1) for s in pos[:1]] + [(q, s, context(g, s), 0) for s in neg]


def listwise_loss(z: torch.Tensor, y: torch.Tensor, group: list[int]) -> torch.Tensor:
    """Mean cross-entropy of a softmax over each answerable group's logits (a group: the
    consecutive pairs with one ``group`` id, its answer first)."""
    losses = []
    start = 0
    for i in range(1, len(group) + 1):
        if i == len(group) or group[i] != group[start]:
            if y[start] > 0 and i - start > 1:
                losses.append(-F.log_softmax(z[start:i], 0)[0])
            start = i
    return torch.stack(losses).mean() if losses else z.sum() * 0.0


def init_from_reader(model: E5CrossEncoder, folder: Path) -> None:
    """Set ``model``'s layers and head to a packaged reader's (its weight file assembled
    from the installed base file, as at run time)."""
    from vraagbaak.qa.reader import ReaderCard, assemble

    card = ReaderCard.load(folder)
    if card is None:
        raise SystemExit(f"no reader.json in {folder}")
    data = assemble(card, (folder / card.tensors_file).read_bytes(),
                    base_model_path().read_bytes())
    init = E5CrossEncoder(E5File(data), train_from=model.train_from)
    model.load_state_dict(init.state_dict(), strict=False)
    with torch.no_grad():
        model.head.weight.copy_(torch.tensor([card.head_w]))
        model.head.bias.fill_(card.head_b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=Path, default=Path("training/out/groups.jsonl"))
    ap.add_argument("--out", type=Path, default=Path("training/out"))
    ap.add_argument("--train-from", type=int, default=6, help="first trained layer")
    ap.add_argument("--negatives", type=int, default=2, help="hard in-paragraph negatives")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=4e-5)
    ap.add_argument("--head-lr", type=float, default=2e-3)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--minutes", type=float, default=90.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--context", action="store_true",
                    help="read each sentence with the sentence before it")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from a packaged reader (a folder with reader.json)")
    ap.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    ap.add_argument("--title", action="store_true",
                    help="read each sentence after its document's title: '{title}: {sentence}'")
    ap.add_argument("--title-dropout", type=float, default=0.0, metavar="P",
                    help="with --title: this share of pairs reads no title")
    ap.add_argument("--swapped", type=float, default=0.0, metavar="P",
                    help="for that share of the answerable questions, a negative: the "
                    "question about another thing (its subject word swapped) with the "
                    "sentence that answered it")
    ap.add_argument("--code-switch", type=float, default=0.0, metavar="P",
                    help="share of the pairs whose English words are partly replaced by "
                    "Dutch ones from a bilingual dictionary (code_switch.py)")
    ap.add_argument("--switch-rate", type=float, default=0.5, metavar="R",
                    help="in a code-switched pair, the share of translatable words replaced")
    ap.add_argument("--listwise", type=int, default=0, metavar="SIZE",
                    help="train on whole groups of up to SIZE sentences: a softmax over each "
                    "answerable group's sentences (the answer is chosen among them) plus "
                    "the pointwise loss")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = random.Random(a.seed)
    f = E5File.read(base_model_path())
    tok = f.tokenizer
    groups = [json.loads(line) for line in a.groups.open(encoding="utf-8")]
    if a.title and a.context:
        raise SystemExit("--title and --context do not go together")
    mode = "previous" if a.context else "title" if a.title else ""
    train = [g for g in groups if g["split"] == "train"]
    context = contexts(groups, mode, a.title_dropout)
    # Each unit is a list of pair indices: one pair, or (listwise) one group's pairs.
    units: list[list[int]] = []
    pairs: list[Pair] = []
    if a.listwise:
        for g in train:
            items = group_items(g, rng, a.listwise, context)
            units.append(list(range(len(pairs), len(pairs) + len(items))))
            pairs += items
    else:
        pairs = [p for g in train for p in pairs_of(g, rng, a.negatives, context)]
        if a.swapped > 0:
            pairs += swapped_pairs(train, a.swapped, random.Random(a.seed + 2), context)
        rng.shuffle(pairs)
        units = [[i] for i in range(len(pairs))]
    if a.code_switch > 0:
        from .code_switch import dictionary, switch

        words = dictionary()
        cs = random.Random(a.seed + 1)
        pairs = [
            (switch(q, words, cs, a.switch_rate), switch(s, words, cs, a.switch_rate),
             switch(c, words, cs, a.switch_rate), y)
            if cs.random() < a.code_switch else (q, s, c, y)
            for q, s, c, y in pairs
        ]
    n_steps = int(len(pairs) * a.epochs) // a.batch
    print(f"{len(pairs)} pairs ({sum(p[3] for p in pairs)} positive), {n_steps} steps", flush=True)

    # Batches of similar length (less padding), in random order.
    t0 = time.time()
    enc = [tok.encode(pair_text(q, s, c, mode), max_tokens=a.max_tokens)
           for q, s, c, _ in pairs]
    print(f"tokenised in {time.time() - t0:.0f} s", flush=True)
    unit_of = {i: k for k, u in enumerate(units) for i in u}
    units.sort(key=lambda u: max(len(enc[i]) for i in u))
    batches: list[list[int]] = []
    for u in units:
        if not batches or len(batches[-1]) + len(u) > a.batch:
            batches.append([])
        batches[-1].extend(u)
    rng.shuffle(batches)
    while len(batches) < n_steps:
        batches += batches[: n_steps - len(batches)]
    batches = batches[:n_steps]

    model = E5CrossEncoder(f, train_from=a.train_from)
    if a.init is not None:
        init_from_reader(model, a.init)
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head")]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": a.lr, "weight_decay": 0.01},
         {"params": model.head.parameters(), "lr": a.head_lr, "weight_decay": 0.0}]
    )
    warm = max(1, n_steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.02, 1 - s / max(1, n_steps))
    )
    a.out.mkdir(parents=True, exist_ok=True)
    ckpt = a.out / "checkpoint.pt"
    step = 0
    if a.resume and ckpt.exists():
        st = torch.load(ckpt, weights_only=False)
        model.load_state_dict(st["model"], strict=False)
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        step = st["step"]
        print(f"resumed at step {step}", flush=True)

    def save() -> None:
        torch.save({"model": {k: v for k, v in model.state_dict().items()},
                    "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step,
                    "train_from": a.train_from}, ckpt)

    model.train()
    start = time.time()
    last_save = start
    run_loss = 0.0
    while step < n_steps:
        idx = batches[step]
        ids, mask = batch([enc[i] for i in idx], tok.pad)
        y = torch.tensor([float(pairs[i][3]) for i in idx])
        z = model(ids, mask)
        loss = F.binary_cross_entropy_with_logits(z, y)
        if a.listwise:
            loss = loss + listwise_loss(z, y, [unit_of[i] for i in idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        lv = float(loss.detach())
        run_loss = 0.98 * run_loss + 0.02 * lv if step > 1 else lv
        el = time.time() - start
        if step % 20 == 0:
            print(f"step {step}/{n_steps} loss {run_loss:.4f} {el / 60:.1f} min "
                  f"({el / max(1, step):.2f} s/step this run)", flush=True)
        if time.time() - last_save > 300:
            save()
            last_save = time.time()
        if el > a.minutes * 60:
            print("time limit reached", flush=True)
            break
    save()
    print(f"saved {ckpt} at step {step}", flush=True)


if __name__ == "__main__":
    main()
