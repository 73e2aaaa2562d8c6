"""Data sets for the RNN classifier: sources, tokenization, a train-only vocabulary, seeded splits, batches.

NumPy only. The sources and their specs are in rnnbench.data.sources.

Records are tokenized by characters (default) or whitespace-separated words, truncated to max_len tokens,
and encoded with a vocabulary built from the train split alone: id 0 is "<unk>", the id of every token
unseen in training; padding reuses id 0 (padding never changes a result). A record with no tokens (an
empty line or CSV cell) is dropped. Labels are indices into the sorted list of class names. Files are
read as UTF-8; a byte-order mark is stripped.

Splits: the validation and test splits are val_fraction and test_fraction of the spec's records, drawn
per class with the seed (the rest trains), unless a separate source (val_spec, test_spec) replaces
one. Fractions may be 0. The data set says where each split came from and warns of an asked-for split
that came out empty (too few records per class for the fraction).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from impls.core import Batch, InputError
from rnnbench.data.sources import DEFAULT_DATA, Example, load_source, parse_spec

DEFAULT_FRACTION = 0.1  # of the records per class, for each of the validation and test splits
TOKENIZATIONS: tuple[str, ...] = ("char", "word")


# -- vocabulary ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocab:
    """Token <-> id. tokens[0] is "<unk>"; the rest are the train split's tokens, most frequent first."""

    tokens: tuple[str, ...]
    UNK: ClassVar[str] = "<unk>"
    UNK_ID: ClassVar[int] = 0
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.tokens or self.tokens[0] != self.UNK:
            raise InputError(f"a Vocab's first token must be {self.UNK!r}")
        object.__setattr__(self, "index", {tok: i for i, tok in enumerate(self.tokens)})

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_count: int = 1) -> Vocab:
        """Vocabulary of every token seen at least min_count times, ordered by (-count, token)."""
        counts = Counter(tok for toks in token_lists for tok in toks)
        counts.pop(cls.UNK, None)
        kept = sorted((tok for tok, c in counts.items() if c >= min_count), key=lambda tok: (-counts[tok], tok))
        return cls((cls.UNK, *kept))

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Token ids (L,) int64; unknown tokens map to UNK_ID."""
        get = self.index.get
        return np.array([get(tok, self.UNK_ID) for tok in tokens], dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[int(i)] for i in ids]


def tokenize(text: str, tokens: str = "char") -> list[str]:
    """Characters of text ("char") or its whitespace-separated words ("word")."""
    if tokens == "char":
        return list(text)
    if tokens == "word":
        return text.split()
    raise InputError(f"tokens must be one of {TOKENIZATIONS}, got {tokens!r}")


# -- splits and data sets ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Split:
    """N records: sequences (each (L,) int64, 1 <= L <= max_len), labels (N,) int64, the source texts."""

    sequences: list[np.ndarray]
    labels: np.ndarray
    texts: list[str]

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def lengths(self) -> np.ndarray:
        """(N,) int64 token counts."""
        return np.array([len(s) for s in self.sequences], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled data set, split and encoded. classes[label] is a label's name; vocab from train only."""

    spec: str
    tokens: str
    max_len: int
    vocab: Vocab
    classes: list[str]
    train: Split
    val: Split
    test: Split
    val_spec: str | None = None
    truncated: int = 0  # records (all splits) longer than max_len, cut to their first max_len tokens
    test_spec: str | None = None
    origins: dict[str, str] = field(default_factory=dict)  # split name -> where its records came from
    notes: tuple[str, ...] = ()  # how each source was read (a CSV's columns and header)
    warnings: tuple[str, ...] = ()  # what the user should know: an asked-for split that came out empty

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> str:
        """A few lines: source, split sizes and origins, classes, vocabulary, lengths, chance accuracy, warnings."""
        lengths = self.train.lengths
        counts = np.bincount(self.train.labels, minlength=self.num_classes)
        shown = ", ".join(f"{name} {n}" for name, n in list(zip(self.classes, counts.tolist(), strict=True))[:12])
        more = f", ... ({self.num_classes} classes)" if self.num_classes > 12 else ""
        majority = counts.max() / max(1, counts.sum())
        origins = [f"    {name}: {origin}" for name, origin in self.origins.items()]
        return "\n".join(
            [
                f"data: {self.spec}",
                f"  records: train {len(self.train)}, validation {len(self.val)}, test {len(self.test)}",
                *origins,
                *(f"  read: {note}" for note in self.notes),
                f"  classes (train counts): {shown}{more}; majority-class accuracy {majority:.3f}",
                f"  tokens: {self.tokens}; vocabulary {self.vocab_size} (id 0 = {Vocab.UNK}, from train only)",
                f"  length (train): mean {lengths.mean():.1f}, max {lengths.max()}; cap max_len {self.max_len}",
                f"  truncated to max_len: {self.truncated} records",
                *(f"  warning: {warning}" for warning in self.warnings),
            ]
        )


def batches(
    split: Split,
    batch_size: int,
    *,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
    t_max: int | None = None,
) -> list[Batch]:
    """Minibatches covering every record of split once, in an order drawn from (seed, epoch).

    Each batch is right-padded with id 0 to its own longest record, or to t_max when given; the last
    batch may be smaller. With shuffle=False the records keep their order.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    n = len(split)
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    out = []
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        out.append(Batch.from_sequences([split.sequences[i] for i in idx], split.labels[idx], t_max=t_max))
    return out


# -- putting it together -------------------------------------------------------------------------------


def _check_fraction(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
        raise InputError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def _cap_per_class(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most per_class records of each class, drawn by rng, in their original order."""
    keep = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(keep))


def _stratified_split(labels: np.ndarray, fractions: Sequence[float], rng: np.random.Generator) -> list[np.ndarray]:
    """Disjoint index arrays: for each class, round(n * f) records per fraction f, the rest first (train)."""
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        sizes = [math.floor(len(idx) * f + 0.5) for f in fractions]  # half rounds up
        while sum(sizes) >= len(idx) and any(sizes):  # keep at least one record of each class in train
            sizes[int(np.argmax(sizes))] -= 1
        start = len(idx) - sum(sizes)
        parts[0].append(idx[:start])
        for k, size in enumerate(sizes, start=1):
            parts[k].append(idx[start : start + size])
            start += size
    return [np.sort(np.concatenate(p)).astype(np.int64) for p in parts]


def _make_split(
    examples: Sequence[Example], idx: Iterable[int], token_lists, label_ids, vocab: Vocab, max_len: int
) -> Split:
    idx = list(idx)
    return Split(
        sequences=[vocab.encode(token_lists[i][:max_len]) for i in idx],
        labels=np.array([label_ids[i] for i in idx], dtype=np.int64),
        texts=[examples[i][0] for i in idx],
    )


def split_fractions(
    val_fraction: float | None, test_fraction: float | None, val_spec: str | None, test_spec: str | None
) -> tuple[float, float]:
    """The fractions of the spec's records drawn for validation and test: 0 for a split a source replaces."""
    out = []
    for role, fraction, replacement in (("val", val_fraction, val_spec), ("test", test_fraction, test_spec)):
        if replacement is not None:
            if fraction:  # None or 0 agree with a replacing source; any other fraction contradicts it
                raise InputError(
                    f"{role}_fraction={fraction} and {role}_spec={replacement!r} exclude each other: "
                    f"the separate {role} data replaces the {role} split"
                )
            out.append(0.0)
        else:
            out.append(_check_fraction(f"{role}_fraction", DEFAULT_FRACTION if fraction is None else fraction))
    if out[0] + out[1] >= 1.0:
        raise InputError(f"val_fraction + test_fraction must be < 1, got {out[0]} + {out[1]}")
    return out[0], out[1]


@dataclass(frozen=True)
class _Encoded:
    """A source's records with at least one token, their token lists, and the records dropped for none."""

    examples: list[Example]
    token_lists: list[list[str]]
    note: str | None


def _encoded_source(spec: str, tokens: str, per_class: int | None, classes: Collection[str] | None = None) -> _Encoded:
    source = load_source(spec, tokens=tokens, per_class=per_class, classes=classes)
    token_lists = [tokenize(text, tokens) for text, _ in source.examples]
    keep = [i for i, toks in enumerate(token_lists) if toks]  # a record needs at least one token
    return _Encoded([source.examples[i] for i in keep], [token_lists[i] for i in keep], source.note)


def _separate_split(
    role: str, spec: str, main_spec: str, tokens: str, class_id: dict[str, int], vocab: Vocab, max_len: int
) -> tuple[Split, int, str | None]:
    """A validation or test split read from its own source: (split, records truncated, how it was read)."""
    data = _encoded_source(spec, tokens, None, classes=class_id.keys())
    stray = sorted({label for _, label in data.examples} - set(class_id))
    if stray:
        raise InputError(
            f"{role} data {spec!r} has labels {stray[:5]} that are not classes of {main_spec!r}: {list(class_id)[:12]}"
        )
    labels = [class_id[label] for _, label in data.examples]
    split = _make_split(data.examples, range(len(labels)), data.token_lists, labels, vocab, max_len)
    return split, sum(len(toks) > max_len for toks in data.token_lists), data.note


def _overlap_warnings(role: str, spec: str, split: Split, train: Split) -> list[str]:
    """What makes separate data measure less than it seems: records that are also training records (their
    accuracy is memory, not generalisation), and records it holds more than once."""
    trained = set(train.texts)
    shared = sum(text in trained for text in split.texts)
    repeated = len(split.texts) - len(set(split.texts))
    out = []
    if shared:
        out.append(
            f"{shared} of the {len(split)} records of the {role} data {spec!r} are training records too: "
            f"its accuracy is partly recall of the training data"
        )
    if repeated:
        out.append(f"the {role} data {spec!r} holds {repeated} duplicate record(s): they count more than once")
    return out


def _drawn_origin(n: int, fraction: float, role: str, spec: str, seed: int) -> str:
    if fraction == 0.0:
        return f"none ({role} fraction 0)"
    return f"{n} records: {fraction:g} of each class of {spec}, drawn with seed {seed}"


def _empty_split_warning(role: str, fraction: float, smallest_class: int) -> str:
    return (
        f"the {role} split is empty: {fraction:g} of the records of each class (the smallest has "
        f"{smallest_class}) rounds to none, so no {role} accuracy is measured; use more data, a larger "
        f"{role} fraction, or separate {role} data"
    )


def _check_options(tokens: str, max_len: int, per_class: int | None) -> None:
    if tokens not in TOKENIZATIONS:
        raise InputError(f"tokens must be one of {TOKENIZATIONS}, got {tokens!r}")
    if isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or max_len < 1:
        raise InputError(f"max_len must be a positive integer, got {max_len!r}")
    if per_class is not None and (isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1):
        raise InputError(f"per_class must be None or a positive integer, got {per_class!r}")


def _label_ids(examples: list[Example], spec: str) -> tuple[list[str], dict[str, int], np.ndarray]:
    """The classes (sorted), class name -> id, and each example's label id (N,) int64."""
    classes = sorted({label for _, label in examples})
    if len(classes) < 2:
        raise InputError(f"data {spec!r} has {len(classes)} class(es) {classes}; a classifier needs at least 2")
    class_id = {name: i for i, name in enumerate(classes)}
    return classes, class_id, np.array([class_id[label] for _, label in examples], dtype=np.int64)


def _train_origin(n_train: int, n_pool: int, n_examples: int, spec: str, per_class: int | None) -> str:
    capped = f" (at most {per_class} per class)" if n_pool < n_examples else ""
    if n_train == n_pool:
        return f"all {n_pool} records of {spec}{capped}"
    return f"{n_train} of the {n_pool} records of {spec}{capped}: those not drawn below"


def load_dataset(
    spec: str = DEFAULT_DATA,
    *,
    tokens: str = "char",
    val_spec: str | None = None,
    seed: int = 0,
    per_class: int | None = None,
    max_len: int = 32,
    val_fraction: float | None = None,
    test_fraction: float | None = None,
    test_spec: str | None = None,
) -> Dataset:
    """Load, tokenize, split (seeded, stratified by class) and encode the data set named by spec.

    val_fraction, test_fraction: the share of each class drawn for validation and for test (None =
    DEFAULT_FRACTION; 0 = no such split); the rest trains. val_spec, test_spec: a separate source that
    replaces that split (its labels must be among spec's classes; the fraction must then be None or 0).
    per_class: at most this many records per class of spec (for wordfreq: the per_class most frequent
    words of each language; elsewhere a seeded sample). max_len: records are cut to their first max_len
    tokens. Raises InputError naming the problem for any bad spec or data; the returned data set's
    warnings name an asked-for split that came out empty.
    """
    _check_options(tokens, max_len, per_class)
    val_fraction, test_fraction = split_fractions(val_fraction, test_fraction, val_spec, test_spec)

    data = _encoded_source(spec, tokens, per_class)
    examples, token_lists = data.examples, data.token_lists
    classes, class_id, label_ids = _label_ids(examples, spec)

    rng = np.random.default_rng(seed)
    pool = np.arange(len(examples))
    if per_class is not None and parse_spec(spec)[0] != "wordfreq":  # wordfreq applied it already
        pool = _cap_per_class(label_ids, per_class, rng)
    train_idx, val_idx, test_idx = (
        pool[i] for i in _stratified_split(label_ids[pool], [val_fraction, test_fraction], rng)
    )
    vocab = Vocab.build(token_lists[i][:max_len] for i in train_idx)
    train = _make_split(examples, train_idx, token_lists, label_ids, vocab, max_len)
    truncated = sum(len(token_lists[i]) > max_len for i in pool)
    notes = [data.note] if data.note else []
    origins = {"train": _train_origin(len(train_idx), len(pool), len(examples), spec, per_class)}
    smallest_class = int(np.bincount(label_ids[pool]).min())
    warnings = []
    splits: dict[str, Split] = {}
    for role, name, drawn_idx, fraction, separate in (
        ("validation", "val", val_idx, val_fraction, val_spec),
        ("test", "test", test_idx, test_fraction, test_spec),
    ):
        if separate is None:
            splits[name] = _make_split(examples, drawn_idx, token_lists, label_ids, vocab, max_len)
            origins[role] = _drawn_origin(len(drawn_idx), fraction, role, spec, seed)
            if fraction > 0.0 and len(drawn_idx) == 0:
                warnings.append(_empty_split_warning(role, fraction, smallest_class))
        else:
            splits[name], cut, note = _separate_split(role, separate, spec, tokens, class_id, vocab, max_len)
            truncated += cut
            notes += [note] if note else []
            origins[role] = f"all {len(splits[name])} records of {separate} (separate {role} data)"
            if not len(splits[name]):
                warnings.append(f"the {role} data {separate!r} has no records with a token: no {role} accuracy")
            warnings += _overlap_warnings(role, separate, splits[name], train)
    return Dataset(
        spec=spec,
        tokens=tokens,
        max_len=int(max_len),
        vocab=vocab,
        classes=classes,
        train=train,
        val=splits["val"],
        test=splits["test"],
        val_spec=val_spec,
        truncated=int(truncated),
        test_spec=test_spec,
        origins=origins,
        notes=tuple(notes),
        warnings=tuple(warnings),
    )
