"""Batch inference: class probabilities for texts, and streaming a whole file through a model.

Memory stays flat with input size: the input is read in chunks of `chunk_rows`, each chunk is
scored in length-sorted batches under a token budget, and written out before the next is read.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ml.core import progress
from ml.model import batching

if TYPE_CHECKING:
    import numpy as np
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)


def release_freed_memory() -> None:
    """Keep the predict step's peak RSS flat with input size without paying a page fault per tensor.

    Two allocators keep freed memory by default, and both let the peak grow with the number of
    chunks and batches, not with what is live:

    - glibc raises its mmap and trim thresholds after the first large free, without bound, so
      the heap keeps the freed holes of every batch shape. Serving every block of 128 KiB and
      more with mmap kept the peak flat but made every activation tensor of every layer a fresh
      mapping, zero-filled page by page and unmapped at once: page faults then cost more than the
      bf16 matrix multiplies of a short batch. The rule now (ml.heap) fixes both thresholds, so
      activations are reused from the heap from batch to batch, and the heap is trimmed after
      each chunk (`trim_freed_memory`): what it holds is bounded by one chunk.
    - Arrow's default pool (jemalloc or mimalloc) keeps the pages of every decoded and written
      chunk for reuse; Arrow's system pool frees them through glibc, under the rule above.

    Measured by `make bench` (inference memory, and the allocator lever of bench.levers).
    Process-wide: call it at the start of a step.
    """
    import pyarrow as pa

    from ml.core import heap

    pa.set_memory_pool(pa.system_memory_pool())
    heap.reuse_freed_memory()


def trim_freed_memory() -> None:
    """Give the heap's free pages back to the OS (between chunks: what one chunk freed)."""
    from ml.core import heap

    heap.trim_freed_memory()


def predict_probs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    max_length: int,
    max_tokens: int = 8192,
    max_batch_size: int = 256,
) -> np.ndarray:
    """Softmax probabilities, one row per text, in the order of `texts`."""
    import numpy as np
    import torch

    device = next(model.parameters()).device
    flat, offsets = batching.tokenize_packed(tokenizer, texts, max_length)
    lengths = np.diff(offsets).tolist()
    probs = np.empty((len(texts), model.config.num_labels), dtype=np.float32)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with torch.inference_mode():
        for rows in batching.token_budget_batches(lengths, max_tokens, max_batch_size):
            input_ids, mask = batching.collate_packed(flat, offsets, rows, pad_id)
            # A batch without padding needs no mask: attention then skips building and applying one.
            padded = len({lengths[i] for i in rows}) > 1
            logits = model(
                input_ids=input_ids.to(device), attention_mask=mask.to(device) if padded else None
            ).logits
            probs[rows] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    return probs


def predict_parquet(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    src: Path,
    dest: Path,
    *,
    text_column: str,
    id_column: str,
    extra_columns: dict[str, str],
    max_length: int,
    max_tokens: int,
    max_batch_size: int,
    chunk_rows: int,
    output_id_column: str | None = None,
) -> int:
    """Score every row of the Parquet file `src` into `dest`; returns the row count.

    Output columns: the id (named `output_id_column`, default `id_column`), `predicted_label`, `score` (its probability), `prob_<label>` for every
    class, then `extra_columns` (constant lineage values such as model name and version).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ml.model.modeling import labels_of

    release_freed_memory()
    labels = labels_of(model)
    source = pq.ParquetFile(src)
    total = source.metadata.num_rows
    schema = pa.schema(
        [(output_id_column or id_column, pa.string()), ("predicted_label", pa.string()), ("score", pa.float32())]
        + [(f"prob_{label}", pa.float32()) for label in labels]
        + [(name, pa.string()) for name in extra_columns]
    )
    written = 0
    started = time.perf_counter()
    with pq.ParquetWriter(dest, schema) as writer, progress.bar(total, "predict", unit="rows") as bar:
        for batch in source.iter_batches(batch_size=chunk_rows, columns=[id_column, text_column]):
            texts = batch.column(text_column).to_pylist()
            probs = predict_probs(model, tokenizer, texts, max_length, max_tokens, max_batch_size)
            best = probs.argmax(axis=1)
            columns = [
                batch.column(id_column),
                pa.array(np.asarray(labels, dtype=object)[best].tolist(), pa.string()),
                pa.array(probs[np.arange(len(best)), best], pa.float32()),
            ]
            columns += [pa.array(probs[:, k], pa.float32()) for k in range(len(labels))]
            columns += [pa.array([value] * len(texts), pa.string()) for value in extra_columns.values()]
            writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
            del texts, probs, columns
            trim_freed_memory()
            written += batch.num_rows
            bar.update(batch.num_rows)
    elapsed = time.perf_counter() - started
    log.info("scored %d rows in %.1fs (%.0f rows/s)", written, elapsed, written / elapsed if elapsed else 0.0)
    return written
