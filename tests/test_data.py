"""rnnbench.data.dataset: sources, vocabulary, splits, batches, and the errors for bad data specs."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from impls import Batch, InputError
from rnnbench.data.dataset import DEFAULT_DATA, Dataset, Split, Vocab, batches, load_dataset
from rnnbench.data.sources import SYNTHETIC_SYMBOLS

NAMES = {
    "English": ["Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Thomas", "Roberts", "Walker", "Wright"],
    "French": ["Martin", "Bernard", "Dubois", "Durand", "Lefebvre", "Moreau", "Laurent", "Simon", "Michel", "Garcia"],
    "German": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann"],
}


def write_folder(root: Path, data: dict[str, list[str]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for label, lines in data.items():
        (root / f"{label}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture
def names_dir(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "names", NAMES)


def all_examples(ds: Dataset) -> Counter:
    return Counter(
        (text, ds.classes[label])
        for split in (ds.train, ds.val, ds.test)
        for text, label in zip(split.texts, split.labels.tolist(), strict=True)
    )


# -- sources -------------------------------------------------------------------------------------------


def test_folder_source_reads_one_file_per_class(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "d", NAMES)
    (root / "Irish.txt").write_text("Murphy\n\n  \nKelly\r\nByrne\n", encoding="utf-8")  # blank lines, CRLF
    (root / "README.md").write_text("not a class\n", encoding="utf-8")
    ds = load_dataset(f"folder:{root}", seed=0)
    assert ds.classes == ["English", "French", "German", "Irish"]
    expected = Counter((name, label) for label, names in NAMES.items() for name in names)
    expected.update({("Murphy", "Irish"): 1, ("Kelly", "Irish"): 1, ("Byrne", "Irish"): 1})
    assert all_examples(ds) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            "hello,en\nbonjour,fr\nhi,en\n", [("hello", "en"), ("bonjour", "fr"), ("hi", "en")], id="no-header"
        ),
        pytest.param("text,label\nhello,en\nbonjour,fr\n", [("hello", "en"), ("bonjour", "fr")], id="header"),
        pytest.param(
            "id,label,text\n1,en,hello\n2,fr,bonjour\n", [("hello", "en"), ("bonjour", "fr")], id="header-reordered"
        ),
        pytest.param(
            'Text,Label\n"hello, world",en\n\n"ça va, merci",fr\n',
            [("hello, world", "en"), ("ça va, merci", "fr")],
            id="quoted-commas-and-blank-row",
        ),
    ],
)
def test_csv_source(tmp_path: Path, content: str, expected: list[tuple[str, str]]) -> None:
    path = tmp_path / "data.csv"
    path.write_text(content, encoding="utf-8")
    ds = load_dataset(f"csv:{path}", val_fraction=0.0, test_fraction=0.0)
    assert ds.classes == ["en", "fr"]
    assert all_examples(ds) == Counter(expected)


def test_bare_paths_infer_the_source_kind(names_dir: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("a,x\nb,y\nc,x\n", encoding="utf-8")
    assert load_dataset(str(names_dir)).classes == sorted(NAMES)
    assert load_dataset(str(csv_path), val_fraction=0.0, test_fraction=0.0).classes == ["x", "y"]


@pytest.mark.parametrize("rule", ["first", "last"])
def test_synthetic_label_is_a_function_of_the_tokens(rule: str) -> None:
    ds = load_dataset(f"synthetic:n=300,length=5,vocab=12,classes=3,rule={rule}", seed=1)
    assert ds.classes == ["c0", "c1", "c2"]
    assert sum(len(s) for s in (ds.train, ds.val, ds.test)) == 300
    for split in (ds.train, ds.val, ds.test):
        assert all(1 <= len(text) <= 5 for text in split.texts)
        key = [text[0] if rule == "first" else text[-1] for text in split.texts]
        assert [SYNTHETIC_SYMBOLS.index(k) % 3 for k in key] == split.labels.tolist()


def test_synthetic_is_seeded_by_its_spec() -> None:
    a, b = load_dataset("synthetic:n=50,seed=3"), load_dataset("synthetic:n=50,seed=3")
    c = load_dataset("synthetic:n=50,seed=4")
    assert all_examples(a) == all_examples(b) != all_examples(c)


def test_synthetic_word_tokens() -> None:
    ds = load_dataset("synthetic:n=40,length=3,vocab=70,classes=2", tokens="word")
    assert all(text.startswith("t") for text in ds.train.texts)
    assert all(len(text.split()) == len(seq) for text, seq in zip(ds.train.texts, ds.train.sequences, strict=True))


def test_wordfreq_default_source() -> None:
    pytest.importorskip("wordfreq", reason="the wordfreq source needs the wordfreq package (rnnbench[data])")
    ds = load_dataset("wordfreq:en,fr,de,n=200", seed=0)
    assert ds.classes == ["de", "en", "fr"]
    examples = all_examples(ds)
    assert Counter(label for _, label in examples) == {"de": 200, "en": 200, "fr": 200}
    words = Counter(text for text, _ in examples)
    assert max(words.values()) == 1, "a word listed in two languages must be dropped"
    assert all(text.isalpha() for text in words)
    assert DEFAULT_DATA == "wordfreq:en,fr,de"


def test_wordfreq_without_languages_takes_the_default_three() -> None:
    pytest.importorskip("wordfreq", reason="the wordfreq source needs the wordfreq package (rnnbench[data])")
    assert load_dataset("wordfreq:n=20").classes == ["de", "en", "fr"]


def test_wordfreq_per_class_and_alpha_option() -> None:
    pytest.importorskip("wordfreq", reason="the wordfreq source needs the wordfreq package (rnnbench[data])")
    ds = load_dataset("wordfreq:en,fr,alpha=0", per_class=300)
    texts = [text for text, _ in all_examples(ds)]
    assert len(texts) == 600
    assert not all(t.isalpha() for t in texts), "alpha=0 keeps entries such as digits and contractions"


# -- tokens and vocabulary -----------------------------------------------------------------------------


def test_vocab_comes_from_train_only_and_unknown_tokens_map_to_unk(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "d", {"a": ["ab", "ba", "abab", "aab"] * 5, "b": ["cd", "dc", "cdd", "Q"] * 5})
    val = _csv(tmp_path, "xyz,a\naxb,b\n")
    ds = load_dataset(f"folder:{root}", val_spec=f"csv:{val}", seed=0)
    assert ds.vocab.tokens[0] == Vocab.UNK == "<unk>"
    assert set(ds.vocab.tokens[1:]) == {ch for text in ds.train.texts for ch in text}
    assert ds.val.texts == ["xyz", "axb"]
    a = ds.vocab.index["a"]
    assert [s.tolist() for s in ds.val.sequences] == [[0, 0, 0], [a, 0, ds.vocab.index["b"]]]
    assert ds.vocab.decode(ds.train.sequences[0]) == list(ds.train.texts[0])


@pytest.mark.parametrize("role", ["val", "test"])
def test_separate_data_sharing_training_records_or_repeating_records_is_warned_of(tmp_path: Path, role) -> None:
    root = write_folder(tmp_path / "d", {"a": ["ab", "ba", "abab", "aab"], "b": ["cd", "dc", "cdd", "dcd"]})
    other = _csv(tmp_path, "ab,a\ncd,b\nzz,a\nzz,a\nzz,a\nqq,b\n")
    ds = load_dataset(f"folder:{root}", **{f"{role}_spec": f"csv:{other}"}, val_fraction=0, test_fraction=0)
    name = {"val": "validation", "test": "test"}[role]
    assert ds.warnings == (
        (
            f"2 of the 6 records of the {name} data 'csv:{other}' are training records too: "
            "its accuracy is partly recall of the training data"
        ),
        f"the {name} data 'csv:{other}' holds 2 duplicate record(s): they count more than once",
    )
    assert "warning: 2 of the 6 records" in ds.describe()


def test_separate_data_apart_from_the_training_data_gets_no_warning(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "d", {"a": ["ab", "ba", "abab", "aab"], "b": ["cd", "dc", "cdd", "dcd"]})
    other = _csv(tmp_path, "zz,a\nqq,b\n")
    assert load_dataset(f"folder:{root}", val_spec=f"csv:{other}", test_fraction=0).warnings == ()


def _csv(tmp_path: Path, content: str, name: str = "v.csv") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_word_tokens_and_max_len_truncation(tmp_path: Path) -> None:
    path = _csv(tmp_path, "one two three four five,x\nsix seven,y\neight nine ten,x\nalpha,y\n")
    ds = load_dataset(f"csv:{path}", tokens="word", max_len=3, val_fraction=0.0, test_fraction=0.0)
    lengths = dict(zip(ds.train.texts, ds.train.lengths.tolist(), strict=True))
    assert lengths == {"one two three four five": 3, "six seven": 2, "eight nine ten": 3, "alpha": 1}
    assert ds.truncated == 1
    assert {"one", "two", "three", "alpha"} <= set(ds.vocab.tokens)
    assert "four" not in ds.vocab.tokens


def test_describe_names_sizes_and_classes(names_dir: Path) -> None:
    text = load_dataset(f"folder:{names_dir}").describe()
    assert "English" in text
    assert "train 24" in text
    assert "vocabulary" in text


# -- splits ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_split_is_seeded_disjoint_and_stratified(names_dir: Path, seed: int) -> None:
    ds = load_dataset(f"folder:{names_dir}", seed=seed, val_fraction=0.2, test_fraction=0.2)
    again = load_dataset(f"folder:{names_dir}", seed=seed, val_fraction=0.2, test_fraction=0.2)
    other = load_dataset(f"folder:{names_dir}", seed=seed + 100, val_fraction=0.2, test_fraction=0.2)
    splits = [set(s.texts) for s in (ds.train, ds.val, ds.test)]
    assert [set(s.texts) for s in (again.train, again.val, again.test)] == splits
    assert [set(s.texts) for s in (other.train, other.val, other.test)] != splits
    assert not (splits[0] & splits[1])
    assert not (splits[0] & splits[2])
    assert not (splits[1] & splits[2])
    assert set.union(*splits) == {name for names in NAMES.values() for name in names}
    for split, n in ((ds.train, 6), (ds.val, 2), (ds.test, 2)):  # 10 per class: 60/20/20
        assert np.bincount(split.labels, minlength=3).tolist() == [n, n, n]


def test_separate_validation_source(names_dir: Path, tmp_path: Path) -> None:
    val = _csv(tmp_path, "Jackson,English\nRousseau,French\n")
    ds = load_dataset(f"folder:{names_dir}", val_spec=f"csv:{val}", test_fraction=0.2)
    assert ds.val.texts == ["Jackson", "Rousseau"]
    assert ds.val.labels.tolist() == [0, 1]
    assert len(ds.train) + len(ds.test) == 30
    assert len(ds.test) == 6


def test_per_class_caps_each_class(names_dir: Path) -> None:
    ds = load_dataset(f"folder:{names_dir}", per_class=4, val_fraction=0.0, test_fraction=0.25)
    counts = Counter(label for _, label in all_examples(ds))
    assert counts == {"English": 4, "French": 4, "German": 4}


# -- batches -----------------------------------------------------------------------------------------


@pytest.fixture
def split() -> Split:
    rng = np.random.default_rng(0)
    sequences = [rng.integers(1, 9, size=int(n)) for n in rng.integers(1, 12, size=53)]
    return Split(sequences=sequences, labels=np.arange(53) % 4, texts=[str(i) for i in range(53)])


def records_of(batch_list: list[Batch]) -> list[tuple[tuple[int, ...], int]]:
    return [(tuple(b.tokens[i, : b.lengths[i]].tolist()), int(b.labels[i])) for b in batch_list for i in range(b.size)]


@pytest.mark.parametrize("batch_size", [1, 7, 53, 100])
def test_batches_cover_every_record_once(split: Split, batch_size: int) -> None:
    got = batches(split, batch_size, seed=0, epoch=1)
    assert [b.size for b in got[:-1]] == [batch_size] * (len(got) - 1)
    assert 1 <= got[-1].size <= batch_size
    expected = [(tuple(s.tolist()), int(y)) for s, y in zip(split.sequences, split.labels, strict=True)]
    assert sorted(records_of(got)) == sorted(expected)
    assert all(b.t_max == b.lengths.max() for b in got), "each batch is padded to its own longest record"
    assert all((b.tokens[np.arange(b.t_max) >= b.lengths[:, None]] == 0).all() for b in got), "padding is id 0"


def test_batches_reshuffle_per_epoch_and_are_seeded(split: Split) -> None:
    order = {
        key: records_of(batches(split, 8, seed=seed, epoch=epoch))
        for key, (seed, epoch) in {"a": (0, 1), "a again": (0, 1), "next epoch": (0, 2), "other seed": (1, 1)}.items()
    }
    assert order["a"] == order["a again"]
    assert order["a"] != order["next epoch"]
    assert order["a"] != order["other seed"]
    unshuffled = records_of(batches(split, 8, seed=0, epoch=1, shuffle=False))
    assert [int(t) for t in split.texts] == list(range(53))
    assert unshuffled == [(tuple(s.tolist()), int(y)) for s, y in zip(split.sequences, split.labels, strict=True)]


def test_batches_pad_to_t_max_when_given(split: Split) -> None:
    assert {b.t_max for b in batches(split, 10, seed=0, epoch=0, t_max=16)} == {16}


# -- bad input ---------------------------------------------------------------------------------------


def _folder(files: dict[str, str]):
    def make(tmp: Path) -> str:
        root = tmp / "folder"
        root.mkdir()
        for name, text in files.items():
            (root / name).write_text(text, encoding="utf-8")
        return f"folder:{root}"

    return make


def _csv_spec(text: str, options: str = ""):
    def make(tmp: Path) -> str:
        return f"csv:{_csv(tmp, text, 'bad.csv')}{options}"

    return make


def _csv_latin1(tmp: Path) -> str:
    path = tmp / "latin1.csv"
    path.write_bytes("Smith,en\nJones,en\nMüller,de\n".encode("latin-1"))
    return f"csv:{path}"


def _latin1(tmp: Path) -> str:
    root = tmp / "latin1"
    root.mkdir()
    (root / "a.txt").write_bytes("Müller\n".encode("latin-1"))
    (root / "b.txt").write_text("Smith\n", encoding="utf-8")
    return f"folder:{root}"


@pytest.mark.parametrize(
    ("make_spec", "match"),
    [
        pytest.param(lambda _tmp: "", "non-empty string", id="empty-spec"),
        pytest.param(lambda _tmp: "imagenet:cats", "unknown data source 'imagenet'", id="unknown-kind"),
        pytest.param(lambda _tmp: "folder:", "needs a folder", id="folder-without-path"),
        pytest.param(lambda tmp: f"folder:{tmp / 'missing'}", "does not exist", id="folder-missing"),
        pytest.param(_folder({"notes.md": "x\n"}), r"no <label>\.txt files", id="folder-without-txt"),
        pytest.param(_folder({"a.txt": "x\ny\n", "b.txt": "\n \n"}), "class 'b' has no examples", id="empty-class"),
        pytest.param(_folder({"a.txt": "x\ny\n"}), "needs at least 2", id="one-class"),
        pytest.param(_latin1, "not valid UTF-8", id="folder-not-utf8"),
        pytest.param(_csv_latin1, r"is not valid UTF-8: line 3, column 2: byte fc is not UTF-8", id="csv-not-utf8"),
        pytest.param(_csv_spec("a,x\nb,y\n", ",foo=1"), r"unknown option 'foo' in data spec", id="csv-bad-option"),
        pytest.param(
            _csv_spec("".join(f"{'pos' if i % 2 else 'neg'},film number {i}\n" for i in range(12))),
            r"if column 0 holds the labels, say csv:.*bad\.csv,text=1,label=0",
            id="csv-label-column-first",
        ),
        pytest.param(lambda tmp: f"csv:{tmp / 'missing.csv'}", "does not exist", id="csv-missing"),
        pytest.param(lambda tmp: f"csv:{tmp}", "is a directory", id="csv-is-a-directory"),
        pytest.param(_csv_spec(""), "is empty", id="csv-empty"),
        pytest.param(_csv_spec("text,label\n"), "no data rows", id="csv-header-only"),
        pytest.param(
            _csv_spec("a,b,c\n1,2,3\n"), "cannot tell which columns hold the text and the label", id="csv-3-columns"
        ),
        pytest.param(_csv_spec("hello,en\nbonjour,fr,x\nhi,en\n"), "row 2: expected 2 columns", id="csv-ragged-row"),
        pytest.param(_csv_spec("hello,en\nhi,en\nbonjour,\n"), "row 3: empty label", id="csv-empty-label"),
        pytest.param(lambda _tmp: "synthetic:n=ten", "must be an integer", id="synthetic-not-int"),
        pytest.param(lambda _tmp: "synthetic:colour=red", "unknown option 'colour'", id="synthetic-unknown-option"),
        pytest.param(lambda _tmp: "synthetic:classes=1", "classes must be >= 2", id="synthetic-one-class"),
        pytest.param(lambda _tmp: "synthetic:10", "key=value", id="synthetic-not-key-value"),
        pytest.param(lambda _tmp: "synthetic:rule=middle", "rule must be first or last", id="synthetic-bad-rule"),
        pytest.param(lambda _tmp: "wordfreq:en", "at least two languages", id="wordfreq-one-language"),
        pytest.param(lambda _tmp: "wordfreq:en,en", "names a language twice", id="wordfreq-repeated-language"),
    ],
)
def test_bad_spec_raises_input_error(tmp_path: Path, make_spec, match: str) -> None:
    spec = make_spec(tmp_path)
    with pytest.raises(InputError, match=match):
        load_dataset(spec)


def test_unknown_wordfreq_language() -> None:
    pytest.importorskip("wordfreq", reason="the wordfreq source needs the wordfreq package (rnnbench[data])")
    with pytest.raises(InputError, match=r"no word list for \['xx'\]"):
        load_dataset("wordfreq:en,xx")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"tokens": "bytes"}, "tokens must be one of", id="tokens"),
        pytest.param({"max_len": 0}, "max_len must be a positive integer", id="max-len"),
        pytest.param({"per_class": 0}, "per_class must be", id="per-class"),
        pytest.param({"val_fraction": 1.5}, r"val_fraction must be in \[0, 1\)", id="val-fraction"),
        pytest.param({"val_fraction": 0.5, "test_fraction": 0.5}, "must be < 1", id="fractions-sum"),
        pytest.param({"val_spec": "synthetic:classes=5"}, r"labels \['c3', 'c4'\] that are not classes", id="val"),
    ],
)
def test_bad_arguments_raise_input_error(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        load_dataset("synthetic:n=100,classes=3", **kwargs)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_bad_batch_size(split: Split, batch_size) -> None:
    with pytest.raises(InputError, match="batch_size must be a positive integer"):
        batches(split, batch_size)


def test_importing_the_cli_modules_stays_cheap() -> None:
    code = (
        "import sys, rnnbench.data.dataset, rnnbench.training.trainer; "
        "heavy = [m for m in ('wordfreq', 'tqdm', 'torch', 'jax') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, stdin=subprocess.DEVNULL)


# -- CSV columns and header rows -----------------------------------------------------------------------

SENTIMENT_ROWS = "great film,pos\nawful,neg\nloved it,pos\nboring,neg\nsuperb,pos\ndull,neg\n"


@pytest.mark.parametrize(
    ("raw", "header"),
    [
        pytest.param(b"sentence,sentiment\n", "sentence", id="named-header"),
        pytest.param("\ufefftext,label\n".encode(), "text", id="bom-then-text-label"),
        pytest.param(b"foo,bar\n", "foo", id="unknown-names"),
        pytest.param(b"review,stars\n", "review", id="one-known-name"),
    ],
)
def test_csv_header_row_is_never_a_record(tmp_path: Path, raw: bytes, header: str) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(raw + SENTIMENT_ROWS.encode())
    ds = load_dataset(f"csv:{path}", val_fraction=0.0, test_fraction=0.0)
    assert ds.classes == ["neg", "pos"]
    assert len(ds.train) == 6
    assert header not in ds.train.texts
    assert any("row 1 is a header" in note for note in ds.notes)


def test_bom_is_stripped_from_a_headerless_csv_and_folder_files(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"\xef\xbb\xbf" + SENTIMENT_ROWS.encode())
    ds = load_dataset(f"csv:{path}", val_fraction=0.0, test_fraction=0.0)
    assert "great film" in ds.train.texts
    root = tmp_path / "folder"
    root.mkdir()
    (root / "a.txt").write_bytes(b"\xef\xbb\xbfSmith\nJones\n")
    (root / "b.txt").write_bytes(b"Dubois\nMoreau\n")
    assert "Smith" in load_dataset(f"folder:{root}", val_fraction=0.0, test_fraction=0.0).train.texts


@pytest.mark.parametrize(
    ("content", "options"),
    [
        pytest.param(
            "id,body,mood\n1,great film,pos\n2,awful,neg\n3,superb,pos\n", ",text=body,label=mood", id="by-name"
        ),
        pytest.param(
            "id,body,mood\n1,great film,pos\n2,awful,neg\n3,superb,pos\n", ",text=BODY,label=Mood", id="name-any-case"
        ),
        pytest.param("1,great film,pos\n2,awful,neg\n3,superb,pos\n", ",text=1,label=2", id="by-index-headerless"),
        pytest.param(
            "mood,body\npos,great film\nneg,awful\npos,superb\n", ",text=1,label=0,header=1", id="index-and-header"
        ),
        pytest.param("id,sentence,sentiment\n1,great film,pos\n2,awful,neg\n3,superb,pos\n", "", id="3-columns-named"),
    ],
)
def test_csv_columns_by_name_or_index(tmp_path: Path, content: str, options: str) -> None:
    path = _csv(tmp_path, content, "d.csv")
    ds = load_dataset(f"csv:{path}{options}", val_fraction=0.0, test_fraction=0.0)
    assert all_examples(ds) == Counter([("great film", "pos"), ("awful", "neg"), ("superb", "pos")])


def test_csv_header_option_overrides_the_rule(tmp_path: Path) -> None:
    path = _csv(tmp_path, "a,x\nb,y\nc,z\nd,z\n", "d.csv")
    assert load_dataset(f"csv:{path},header=0", val_fraction=0.0, test_fraction=0.0).classes == ["x", "y", "z"]
    assert load_dataset(f"csv:{path},header=1", val_fraction=0.0, test_fraction=0.0).classes == ["y", "z"]


def test_a_csv_file_named_with_a_comma_and_equals_sign_is_read(tmp_path: Path) -> None:
    path = _csv(tmp_path, "a,x\nb,y\nc,x\n", "d.csv,v=2")
    assert load_dataset(f"csv:{path}", val_fraction=0.0, test_fraction=0.0).classes == ["x", "y"]


def test_bare_csv_path_takes_options(tmp_path: Path) -> None:
    path = _csv(tmp_path, "1,great film,pos\n2,awful,neg\n3,superb,pos\n", "d.csv")
    assert load_dataset(f"{path},text=1,label=2", val_fraction=0.0, test_fraction=0.0).classes == ["neg", "pos"]


def test_separate_validation_csv_header_is_told_by_the_training_classes(names_dir: Path, tmp_path: Path) -> None:
    headerless = _csv(tmp_path, "Jackson,English\nRousseau,French\n", "a.csv")  # every label once: ambiguous alone
    with_header = _csv(tmp_path, "surname,origin\nJackson,English\nRousseau,French\n", "b.csv")
    for path in (headerless, with_header):
        ds = load_dataset(f"folder:{names_dir}", val_spec=f"csv:{path}")
        assert ds.val.texts == ["Jackson", "Rousseau"]


@pytest.mark.parametrize(
    ("content", "options", "match"),
    [
        pytest.param(
            "a,x\nb,y\nc,z\nd,z\n", "", r"row 1 \['a', 'x'\] is a header or a record.*header=1", id="ambiguous"
        ),
        pytest.param("id,body,mood\n1,a,x\n", "", r"which columns hold.*text=COL,label=COL", id="3-unknown-columns"),
        pytest.param("id,body\n1,a\n", ",text=body,label=mood", "no column named 'mood'", id="missing-name"),
        pytest.param("a,x\nb,y\n", ",text=0,label=5", "label=5 but row 1 has 2 columns", id="index-out-of-range"),
        pytest.param("a,x\nb,y\n", ",text=0", "give the label column too", id="one-index"),
        pytest.param("a,x\nb,y\n", ",text=a", "name the label column too", id="one-name"),
        pytest.param("a,x\nb,y\n", ",text=1,label=1", "same column", id="same-column"),
        pytest.param("a,x\nb,y\n", ",header=maybe", "header .* must be 1 or 0", id="bad-header-option"),
        pytest.param("a,x\nb,y\n", ",text=a,label=x,header=0", "says header=0", id="names-without-header"),
        pytest.param("a,x\nb,y\n", ",text=-1,label=0", "counts from 0", id="negative-index"),
        pytest.param("a,x\nb,y\n", ",header=1,header=0", "header= twice", id="option-twice"),
    ],
)
def test_csv_that_cannot_be_read_as_meant_names_the_fix(tmp_path: Path, content: str, options: str, match: str) -> None:
    path = _csv(tmp_path, content, "d.csv")
    with pytest.raises(InputError, match=match):
        load_dataset(f"csv:{path}{options}", val_fraction=0.0, test_fraction=0.0)


# -- where the splits come from ------------------------------------------------------------------------


def test_fractions_of_zero_train_on_every_record(names_dir: Path) -> None:
    ds = load_dataset(f"folder:{names_dir}", val_fraction=0.0, test_fraction=0.0)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (30, 0, 0)
    assert ds.origins["train"] == f"all 30 records of folder:{names_dir}"
    assert ds.origins["validation"] == "none (validation fraction 0)"
    assert not ds.warnings, "a split asked to be empty is no surprise"


def test_separate_sources_replace_their_splits(names_dir: Path, tmp_path: Path) -> None:
    val = _csv(tmp_path, "Jackson,English\nRousseau,French\n", "val.csv")
    test = _csv(tmp_path, "Hall,English\nBecker,German\nRoux,French\n", "test.csv")
    ds = load_dataset(f"folder:{names_dir}", val_spec=f"csv:{val}", test_spec=f"csv:{test}")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (30, 2, 3)
    assert ds.test.texts == ["Hall", "Becker", "Roux"]
    assert ds.origins["validation"] == f"all 2 records of csv:{val} (separate validation data)"
    assert ds.origins["test"] == f"all 3 records of csv:{test} (separate test data)"
    text = ds.describe()
    assert f"train: all 30 records of folder:{names_dir}" in text
    assert f"test: all 3 records of csv:{test}" in text


def test_drawn_splits_say_so(names_dir: Path) -> None:
    ds = load_dataset(f"folder:{names_dir}", val_fraction=0.2, test_fraction=0.1, seed=3)
    assert ds.origins["validation"] == f"6 records: 0.2 of each class of folder:{names_dir}, drawn with seed 3"
    assert ds.origins["train"].startswith(f"{len(ds.train)} of the 30 records")


def test_small_data_warns_of_an_empty_split(tmp_path: Path) -> None:
    path = _csv(tmp_path, "a,x\nb,y\nc,x\nd,y\ne,x\n", "five.csv")
    ds = load_dataset(f"csv:{path}")
    assert len(ds.val) == len(ds.test) == 0
    assert len(ds.warnings) == 2
    assert ds.warnings[0].startswith("the validation split is empty: 0.1 of the records of each class")
    assert "warning: the test split is empty" in ds.describe()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"val_fraction": 0.2, "val_spec": "synthetic:classes=3"}, "exclude each other", id="val"),
        pytest.param({"test_fraction": 0.2, "test_spec": "synthetic:classes=3"}, "exclude each other", id="test"),
        pytest.param({"test_spec": "synthetic:classes=5"}, r"test data .* labels \['c3', 'c4'\]", id="test-labels"),
        pytest.param({"test_fraction": -0.1}, r"test_fraction must be in \[0, 1\)", id="negative"),
    ],
)
def test_bad_split_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        load_dataset("synthetic:n=100,classes=3", **kwargs)


def test_the_benchmark_call_still_loads() -> None:
    """rnnbench.bench.accuracy.load_accuracy_data calls load_dataset(spec, per_class=, max_len=, seed=) and
    reads these attributes."""
    ds = load_dataset("synthetic:n=200,classes=3", per_class=50, max_len=6, seed=0)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 150
    assert ds.num_classes == 3
    assert len(ds.val) > 0
