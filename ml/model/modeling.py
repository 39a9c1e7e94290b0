"""Building and loading sequence-classification models and their tokenizers.

`base_model` may be:
- `tiny`: an offline preset, a 2-layer BERT built from a config, with a WordPiece tokenizer
  trained on the training texts (`tokenizers`), so a CPU run takes about a minute, no download;
- a local folder or an `s3://` folder holding a Hugging Face checkpoint (`save_pretrained`);
- a Hugging Face Hub id (needs network access to the Hub).
The classification head always gets the labels of the data (`id2label`).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ml.core import progress, storage
from ml.core.errors import BadInputError, TransientError

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from ml.model.precision import Precision

log = logging.getLogger(__name__)

TINY = "tiny"
TINY_VOCAB_SIZE = 8000
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def resolve_device(requested: str) -> torch.device:
    """`auto` picks CUDA when a GPU is visible; asking for `cuda` without one is a bad input."""
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise BadInputError("ML_DEVICE=cuda but no CUDA device is visible; use ML_DEVICE=auto or cpu, or expose a GPU")
    if requested == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def default_learning_rate(base_model: str) -> float:
    """A from-scratch tiny model needs a far larger step than fine-tuning a pretrained one."""
    return 1e-3 if base_model == TINY else 5e-5


def label_maps(labels: list[str]) -> tuple[dict[int, str], dict[str, int]]:
    id2label = dict(enumerate(labels))
    return id2label, {label: i for i, label in id2label.items()}


def wordpiece_vocab(tokenizer: Tokenizer, texts: list[str], size: int = TINY_VOCAB_SIZE) -> dict[str, int]:
    """A WordPiece vocabulary from the training texts: every character (so nothing is unknown)
    plus the most frequent words.

    Why not `tokenizers`' WordPiece trainer: it breaks ties between equally frequent merges in
    hash order, which changes from process to process, so the same seed would give different
    models. Counting words with an explicit tie-break (count, then the word) is reproducible.
    """
    from collections import Counter

    words: Counter[str] = Counter()
    for text in texts:
        normalized = tokenizer.normalizer.normalize_str(text)
        words.update(piece for piece, _ in tokenizer.pre_tokenizer.pre_tokenize_str(normalized))
    chars = sorted({ch for word in words for ch in word})
    pieces = SPECIAL_TOKENS + chars + [f"##{ch}" for ch in chars]
    budget = max(0, size - len(pieces))
    frequent = [w for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1][:budget]
    return {token: i for i, token in enumerate(pieces + frequent)}


def build_tiny(texts: list[str], labels: list[str], max_length: int, seed: int) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The offline preset: WordPiece trained on `texts` plus a small randomly initialised BERT."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.decoder = decoders.WordPiece()
    wordpiece.model = models.WordPiece(vocab=wordpiece_vocab(wordpiece, texts), unk_token="[UNK]")
    cls_id, sep_id = wordpiece.token_to_id("[CLS]"), wordpiece.token_to_id("[SEP]")
    wordpiece.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=wordpiece,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )
    id2label, label2id = label_maps(labels)
    config = BertConfig(
        vocab_size=wordpiece.get_vocab_size(),
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=512,
        max_position_embeddings=max(512, max_length),
        num_labels=len(labels),
        id2label=id2label,
        label2id=label2id,
        pad_token_id=wordpiece.token_to_id("[PAD]"),
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    return model, tokenizer


def offline_mode() -> bool:
    """`HF_HUB_OFFLINE=1` (or `TRANSFORMERS_OFFLINE=1`): only the local cache may be used."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def check_available(base_model: str, attempts: int) -> None:
    """Fail in seconds, before any data is read, when the base model cannot be had (`ml.model.base_model`)."""
    from ml.model import base_model as base

    base.check(base_model, attempts)


def _local_checkpoint(base_model: str, workdir: Path) -> str:
    """A path or hub id `from_pretrained` can open; `s3://` folders are downloaded first."""
    if storage.is_s3(base_model):
        target = workdir / "base-model"
        names = storage.list_folder(base_model)
        if not names:
            raise BadInputError(f"{base_model} holds no files; upload a save_pretrained folder there")
        for rel in names:
            storage.fetch(storage.join(base_model, rel), target / rel)
        return str(target)
    path = storage.local_path(base_model)
    if path.exists():
        if not (path / "config.json").is_file():
            raise BadInputError(f"{path} has no config.json; point ML_BASE_MODEL at a save_pretrained folder")
        return str(path)
    if base_model.startswith((".", "/", "~")):
        raise BadInputError(f"base model folder {base_model} does not exist; check ML_BASE_MODEL")
    return base_model  # a Hub id


def load_pretrained(base_model: str, labels: list[str], max_length: int) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A pretrained checkpoint with a fresh classification head sized for `labels`."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    progress.library_bars_off()
    id2label, label2id = label_maps(labels)
    with tempfile.TemporaryDirectory(prefix="ml-base-") as tmp:
        source = _local_checkpoint(base_model, Path(tmp))
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, model_max_length=max_length)
            model = AutoModelForSequenceClassification.from_pretrained(
                source,
                num_labels=len(labels),
                id2label=id2label,
                label2id=label2id,
                ignore_mismatched_sizes=True,
                attn_implementation="sdpa",
            )
        except OSError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if offline_mode():
                raise BadInputError(f"base model {base_model!r} is not in the Hugging Face cache (offline): {first}") from exc
            if "connect" in str(exc).lower():
                raise TransientError(f"cannot download base model {base_model!r} from the Hugging Face Hub: {first}") from exc
            raise BadInputError(
                f"cannot load base model {base_model!r}: {str(exc).splitlines()[0]}; use 'tiny', a local or s3:// "
                "save_pretrained folder, or a Hub id"
            ) from exc
    return model, tokenizer


def build(base_model: str, texts: list[str], labels: list[str], max_length: int, seed: int) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The model to fine-tune and its tokenizer, whatever `base_model` names."""
    if base_model == TINY:
        return build_tiny(texts, labels, max_length, seed)
    return load_pretrained(base_model, labels, max_length)


def save(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, folder: Path) -> Path:
    progress.library_bars_off()  # `Writing model shards`
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def load(folder: Path, device: torch.device, precision: Precision) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A trained model ready for inference on `device` in `precision` (a resolved one, ml.model.precision)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if not (folder / "config.json").is_file():
        raise BadInputError(f"{folder} holds no trained model (no config.json); re-run training")
    progress.library_bars_off()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="sdpa")
    return prepare_for_inference(model, device, precision), tokenizer


def prepare_for_inference(model: PreTrainedModel, device: torch.device, precision: Precision) -> PreTrainedModel:
    """Eval mode on `device`, weights in `precision` ("fp32" or "bf16", see ml.model.precision); on a CPU
    in bf16 the linear layers' weights are also packed once for oneDNN (ml.model.cpu_packing)."""
    from ml.model.cpu_packing import pack_linear_weights
    from ml.model.precision import apply_for_inference

    model.eval().to(device)
    model = apply_for_inference(model, precision)
    pack_linear_weights(model)
    return model


def labels_of(model: PreTrainedModel) -> list[str]:
    """Class names in output order (transformers keys `id2label` by int)."""
    return [model.config.id2label[i] for i in range(model.config.num_labels)]
