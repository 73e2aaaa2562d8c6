"""The csv: data source: which columns hold the text and the label, and whether row 1 is a header.

    csv:PATH[,text=COL][,label=COL][,header=1|0]

COL is a column name from the header row (any case) or an index counted from 0. Without options the
columns are found by name when row 1 names a text column (text, sentence, review, name, ...) and a
label column (label, class, sentiment, language, ...); otherwise a 2-column file is read as text,label.
Row 1 is a header when it names the columns, or when the value in its label column is the label of no
other row while every other label recurs (a header's `sentiment` is no class); when row 1 cannot be
told from a record that way, reading stops and names the option to say which (header=1 or header=0).
A UTF-8 byte-order mark is stripped (the caller decodes the file). A header row is never a record.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

from impls.core import InputError

OPTIONS: tuple[str, ...] = ("text", "label", "header")
TEXT_NAMES: tuple[str, ...] = (
    "text", "sentence", "review", "document", "content", "comment", "message", "tweet", "utterance", "name",
    "word", "title", "body", "input", "query", "question", "headline", "sentences", "phrase",
)  # fmt: skip
LABEL_NAMES: tuple[str, ...] = (
    "label", "class", "category", "sentiment", "target", "tag", "language", "lang", "emotion", "intent",
    "topic", "polarity", "y", "output", "rating", "stance", "labels", "gold",
)  # fmt: skip
TRUE_WORDS, FALSE_WORDS = ("1", "yes", "true"), ("0", "no", "false")

Example = tuple[str, str]  # (text, label name)


@dataclass(frozen=True)
class CsvSpec:
    """A parsed csv: spec. text and label: a column name or an index from 0 (None = find it)."""

    path: str
    text: str | int | None = None
    label: str | int | None = None
    header: bool | None = None  # None = tell from the file


@dataclass(frozen=True)
class CsvData:
    """The records of a CSV file and one line saying how it was read (columns, header)."""

    examples: list[Example]
    note: str


def parse_spec(spec: str, arg: str) -> CsvSpec:
    """PATH[,key=value...] -> CsvSpec."""
    path, pairs = peel_options(arg)
    unknown = [key for key, _ in pairs if key not in OPTIONS]
    if unknown and not os.path.isfile(arg.strip()):
        raise InputError(f"unknown option {unknown[0]!r} in data spec {spec!r}; options: {', '.join(OPTIONS)}")
    if unknown:  # the whole of it names a file: a comma and '=' in a file name
        path, pairs = arg.strip(), []
    options: dict[str, str] = {}
    for key, value in pairs:
        if key in options:
            raise InputError(f"data spec {spec!r} gives {key}= twice")
        options[key] = value
    if not path:
        raise InputError(f"data spec {spec!r} needs a file: csv:PATH[,text=COL,label=COL,header=1|0]")
    header = None
    if "header" in options:
        word = options["header"].lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise InputError(f"header in data spec {spec!r} must be 1 or 0, got {options['header']!r}")
        header = word in TRUE_WORDS
    columns = {key: _column(spec, key, options[key]) for key in ("text", "label") if key in options}
    return CsvSpec(path=path, header=header, **columns)


def peel_options(arg: str) -> tuple[str, list[tuple[str, str]]]:
    """PATH[,key=value...] -> (PATH, [(key, value)...]). Options (a word, '=', a value) are peeled off the
    end, known or not (parse_spec names an unknown one): PATH may hold commas."""
    items = arg.split(",")
    pairs: list[tuple[str, str]] = []
    while len(items) > 1 and "=" in items[-1] and items[-1].partition("=")[0].strip().isidentifier():
        key, _, value = items.pop().partition("=")
        pairs.insert(0, (key.strip().lower(), value.strip()))
    return ",".join(items).strip(), pairs


def _column(spec: str, key: str, value: str) -> str | int:
    if not value:
        raise InputError(f"{key}= in data spec {spec!r} needs a column name or an index from 0")
    if value.lstrip("-").isdigit():
        index = int(value)
        if index < 0:
            raise InputError(f"{key}={value} in data spec {spec!r}: a column index counts from 0")
        return index
    return value


def read(spec: str, options: CsvSpec, text: str, classes: Collection[str] | None = None) -> CsvData:
    """The (text, label) records of a CSV file's decoded text, as options and the header rule say.

    classes: the labels the records may have, when known (a validation or test file's are the training
    data's classes); a row 1 whose label is no class, while the other rows' labels are, is a header.
    """
    path = options.path
    rows = [row for row in csv.reader(text.splitlines()) if any(c.strip() for c in row)]
    if not rows:
        raise InputError(f"CSV file {path!r} is empty; it needs rows `text,label`")
    first = rows[0]
    text_col, label_col, header, why = _layout(spec, options, rows, classes)
    body = rows[1:] if header else rows
    width = len(first)
    examples: list[Example] = []
    for line, row in enumerate(body, start=2 if header else 1):
        if len(row) != width:
            raise InputError(f"CSV file {path!r}, row {line}: expected {width} columns, got {len(row)}: {row[:4]}")
        label = row[label_col].strip()
        if not label:
            raise InputError(f"CSV file {path!r}, row {line}: empty label")
        examples.append((row[text_col].strip(), label))
    if not examples:
        raise InputError(f"CSV file {path!r} has a header but no data rows")
    if header:
        note = f"row 1 is a header ({why}): text = column {text_col} {first[text_col].strip()!r}, "
        note += f"label = column {label_col} {first[label_col].strip()!r}"
    else:
        note = f"no header row ({why}): text = column {text_col}, label = column {label_col}"
    return CsvData(examples, note)


def _layout(
    spec: str, options: CsvSpec, rows: list[list[str]], classes: Collection[str] | None
) -> tuple[int, int, bool, str]:
    """(text column, label column, whether row 1 is a header, why) for rows, or InputError naming the fix."""
    path, first = options.path, rows[0]
    names = [c.strip().lower() for c in first]
    fix = f"name the columns: csv:{path},text=COL,label=COL (a name from row 1 or an index from 0)"
    by_name = [key for key in ("text", "label") if isinstance(getattr(options, key), str)]
    if by_name:
        if options.header is False:
            raise InputError(f"data spec {spec!r} names columns ({', '.join(by_name)}) but says header=0")
        cols = []
        for key in ("text", "label"):
            chosen = getattr(options, key)
            if isinstance(chosen, str):
                if chosen.lower() not in names:
                    raise InputError(f"CSV file {path!r}: row 1 {first[:6]} has no column named {chosen!r}; {fix}")
                cols.append(names.index(chosen.lower()))
            else:
                cols.append(_index(path, key, chosen, first) if chosen is not None else None)
        if None in cols:
            missing = ("text", "label")[cols.index(None)]
            raise InputError(f"data spec {spec!r} names one column; name the {missing} column too ({missing}=COL)")
        return cols[0], cols[1], True, "columns named in the spec"

    known_text = next((names.index(n) for n in TEXT_NAMES if n in names), None)
    known_label = next((names.index(n) for n in LABEL_NAMES if n in names), None)
    if options.text is not None or options.label is not None:
        if options.text is None or options.label is None:
            missing = "text" if options.text is None else "label"
            raise InputError(f"data spec {spec!r} gives one column index; give the {missing} column too")
        text_col = _index(path, "text", options.text, first)
        label_col = _index(path, "label", options.label, first)
    elif known_text is not None and known_label is not None and known_text != known_label:
        text_col, label_col = known_text, known_label
        if options.header is None:
            return text_col, label_col, True, "it names the columns"
    elif len(first) == 2:
        text_col, label_col = 0, 1
    else:
        raise InputError(
            f"CSV file {path!r}: cannot tell which columns hold the text and the label: row 1 has "
            f"{len(first)} columns {first[:6]}; {fix}"
        )
    if text_col == label_col:
        raise InputError(f"data spec {spec!r} reads the text and the label from the same column {text_col}")
    if options.header is not None:
        return text_col, label_col, options.header, f"header={int(options.header)}"
    return text_col, label_col, *_tell_header(path, rows, text_col, label_col, classes)


def _index(path: str, key: str, index: int, first: list[str]) -> int:
    if index >= len(first):
        raise InputError(f"CSV file {path!r}: {key}={index} but row 1 has {len(first)} columns (indices from 0)")
    return index


def _tell_header(
    path: str, rows: list[list[str]], text_col: int, label_col: int, classes: Collection[str] | None
) -> tuple[bool, str]:
    """Whether row 1 is a header, judged by its label cell against the other rows' labels and the classes."""
    first = rows[0]
    if len(rows) == 1:
        return False, "the file has one row"
    cell = first[label_col].strip() if label_col < len(first) else ""
    others = Counter(row[label_col].strip() for row in rows[1:] if label_col < len(row))
    if cell in others:
        return False, f"its label {cell!r} is the label of other rows"
    if classes is not None:
        if cell in classes:
            return False, f"its label {cell!r} is a class of the training data"
        if set(others) <= set(classes):
            return True, f"its label {cell!r} is no class of the training data, unlike every other row's"
    if first[text_col].strip().lower() in TEXT_NAMES or cell.lower() in LABEL_NAMES:
        return True, "it names a column"
    if others and all(_is_number(label) for label in others) and not _is_number(cell):
        return True, f"its label {cell!r} is no number, unlike every other label"
    singles = sum(1 for n in others.values() if n == 1)
    if singles == 0:
        return True, f"its label {cell!r} is no other row's label, while every other label recurs"
    raise InputError(
        f"CSV file {path!r}: cannot tell whether row 1 {first[:4]} is a header or a record (its label {cell!r} "
        f"is in no other row, but {singles} other label(s) occur once too); "
        f"say which: csv:{path},header=1 or csv:{path},header=0" + _swap_hint(path, rows, text_col, label_col)
    )


def _swap_hint(path: str, rows: list[list[str]], text_col: int, label_col: int) -> str:
    """Advice for a file whose label column comes first: the column read as text holds few distinct
    values, the one read as labels nearly one per row."""
    texts = {row[text_col].strip() for row in rows if text_col < len(row)}
    labels = {row[label_col].strip() for row in rows if label_col < len(row)}
    if len(texts) >= len(labels) or len(labels) < len(rows) / 2:
        return ""
    return (
        f"; but column {label_col}, read as the labels, holds {len(labels)} distinct values in {len(rows)} rows, "
        f"and column {text_col}, read as the text, {len(texts)}: if column {text_col} holds the labels, "
        f"say csv:{path},text={label_col},label={text_col}"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
