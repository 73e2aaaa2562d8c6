"""What decides a training run: TrainConfig (the flags of `rnnbench train`, one for one) and its data."""

from __future__ import annotations

from dataclasses import dataclass

import impls
from impls import InputError
from rnnbench.data.dataset import DEFAULT_DATA, TOKENIZATIONS, Dataset, load_dataset, split_fractions

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
SEED_LIMIT = 2**32  # every framework's generator takes a seed below it (NumPy refuses negative ones)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (the CLI flags of `rnnbench train`, one for one).

    eval_every: evaluate on the validation split every this many training records (rounded up to whole
    batches, counted from each epoch's start) as well as at each epoch's end (0 = at epoch ends only,
    which lets an implementation fuse a whole epoch). Every epoch is cut at the same batch counts, so
    a JIT implementation sees the same chunk shapes every epoch and compiles them once.
    val_fraction, test_fraction: the share of each class of data drawn for validation and test (None =
    0.1 each, 0 = none); val_data, test_data: separate data that replaces that split instead.
    clip_value and clip_norm exclude each other; momentum applies to sgd only. threads: 1 by default,
    because this model's matrices are too small to gain from more and a multi-threaded BLAS slows down
    many times over when another process holds a core; None leaves the framework's own setting.
    out: a folder for the model (model.json, params.npz: what `rnnbench predict` reads) and metrics.json
    (None = write nothing); force: replace the model files of a non-empty out folder.
    """

    impl: str = "numpy-bptt"
    data: str = DEFAULT_DATA
    val_data: str | None = None
    val_fraction: float | None = None
    test_fraction: float | None = None
    test_data: str | None = None
    tokens: str = "char"
    hidden: int = 64
    batch_size: int = 32
    epochs: int = 8
    optimizer: str = "adam"
    lr: float = 0.005
    momentum: float = 0.0
    clip_value: float | None = None
    clip_norm: float | None = None
    nonlinearity: str = "tanh"
    dtype: str = "float32"
    seed: int = 0
    device: str = "cpu"
    threads: int | None = 1
    max_len: int = 32
    per_class: int | None = None
    eval_every: int = 0
    out: str | None = None
    force: bool = False

    def optimizer_spec(self) -> impls.Optimizer:
        """impls.SGD or impls.Adam for this run (InputError for a bad name or setting)."""
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.optimizer == "sgd":
            return impls.SGD(lr=self.lr, momentum=self.momentum)
        if self.momentum:
            raise InputError(f"momentum applies to the sgd optimizer only, got momentum={self.momentum} with adam")
        return impls.Adam(lr=self.lr)

    def clip_spec(self) -> impls.Clip:
        """impls.ClipValue, impls.ClipNorm or None."""
        if self.clip_value is not None and self.clip_norm is not None:
            raise InputError("choose one of clip_value (--clip-value) and clip_norm (--clip-norm), not both")
        if self.clip_value is not None:
            return impls.ClipValue(self.clip_value)
        if self.clip_norm is not None:
            return impls.ClipNorm(self.clip_norm)
        return None

    def check(self) -> None:
        """Raise InputError for a bad setting, before any data is loaded or framework imported."""
        impls.registry.check_known(self.impl, self.device)
        for name in ("hidden", "batch_size", "epochs", "max_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < SEED_LIMIT:
            raise InputError(f"seed must be an integer in [0, {SEED_LIMIT}), got {self.seed!r}")
        if isinstance(self.eval_every, bool) or not isinstance(self.eval_every, int) or self.eval_every < 0:
            raise InputError(f"eval_every must be a non-negative integer (0 = per epoch), got {self.eval_every!r}")
        if self.tokens not in TOKENIZATIONS:
            raise InputError(f"tokens must be one of {TOKENIZATIONS}, got {self.tokens!r}")
        if self.nonlinearity not in impls.NONLINEARITIES:
            raise InputError(f"nonlinearity must be one of {impls.NONLINEARITIES}, got {self.nonlinearity!r}")
        if self.dtype not in impls.DTYPES:
            raise InputError(f"dtype must be one of {impls.DTYPES}, got {self.dtype!r}")
        self.optimizer_spec()
        self.clip_spec()
        for split, fraction, data in (
            ("val", self.val_fraction, self.val_data),
            ("test", self.test_fraction, self.test_data),
        ):
            if data is not None and fraction:
                raise InputError(
                    f"--{split}-fraction {fraction} and --{split}-data exclude each other: the separate data "
                    f"replaces that split (leave --{split}-fraction out)"
                )
        split_fractions(self.val_fraction, self.test_fraction, self.val_data, self.test_data)

    def optimizer_state(self) -> str:
        """What the optimizer keeps per parameter: "adam", "momentum" or "sgd" (nothing)."""
        return "adam" if self.optimizer == "adam" else ("momentum" if self.momentum else "sgd")


def load_data(cfg: TrainConfig) -> Dataset:
    """The data set cfg names, split as it says."""
    return load_dataset(
        cfg.data,
        tokens=cfg.tokens,
        val_spec=cfg.val_data,
        test_spec=cfg.test_data,
        val_fraction=cfg.val_fraction,
        test_fraction=cfg.test_fraction,
        seed=cfg.seed,
        per_class=cfg.per_class,
        max_len=cfg.max_len,
    )
