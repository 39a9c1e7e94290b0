"""A user's own CSV in the embedded mode, as a model of its own: the issue's sequence, end to end.

Support tickets (`ticket_id,message,category`) trained with `--model-name` and the column flags,
then labelled: the predictions keep `ticket_id` and land in the model's own location; the demo
data trained under the tickets model's name is refused before it trains.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ml.core.config import settings_for
from ml.core.errors import BadInputError
from ml.pipelines import embedded

WORDS = {"billing": ["invoice", "charged", "refund", "payment", "card", "bill"],
         "shipping": ["parcel", "delivery", "courier", "tracking", "shipped", "arrived"]}
MODEL = {"model_name": "tickets", "text_column": "message", "label_column": "category", "id_column": "ticket_id"}


def tickets(path: Path, rows: int, labelled: bool = True) -> Path:
    rng = random.Random(rows)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ticket_id", "message", "category"][: 3 if labelled else 2])
        for i in range(rows):
            label = "billing" if i % 2 else "shipping"
            text = " ".join([*rng.sample(WORDS[label], 3), "please", "help"])
            writer.writerow([f"T{i:04d}", text, label][: 3 if labelled else 2])
    return path


def test_own_csv_as_a_model_of_its_own_keeps_its_ids_and_locations(local_env: Path, demo_csv: Path) -> None:
    trained = embedded.run("training", {"dataset_uri": str(tickets(local_env / "tickets.csv", 200))}, model=MODEL)
    summary = trained["summary"]
    assert (summary["model_name"], summary["model_version"], summary["promoted"]) == ("tickets", "1", True)
    assert trained["results"]["load-training-data"]["data_uri"].startswith(settings_for(model_name="tickets").work_uri)

    with pytest.raises(BadInputError, match=r"another task than model 'tickets'.*--model-name.*--new-task"):
        embedded.run("training", {"dataset_uri": str(demo_csv)}, model={"model_name": "tickets"})

    new = tickets(local_env / "new.csv", 6, labelled=False)
    labelled = embedded.run("inference", {"input_uri": str(new)}, model={k: v for k, v in MODEL.items()
                                                                          if k != "label_column"})["summary"]
    table = pq.read_table(labelled["predictions_uri"])
    assert table.column_names[0] == "ticket_id" and table.column("ticket_id").to_pylist() == [f"T{i:04d}" for i in range(6)]
    assert set(table.column("model_name").to_pylist()) == {"tickets"}
    assert labelled["predictions_uri"].startswith(settings_for(model_name="tickets").results_uri + "/")
    assert not labelled["predictions_uri"].startswith(settings_for().results_uri + "/models/text-classifier")
    with pytest.raises(BadInputError, match="no registered model 'text-classifier'"):  # never the other model's
        embedded.run("inference", {"input_uri": str(new)}, model={"text_column": "message"})
