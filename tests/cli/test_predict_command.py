"""`mailengine predict` as people run it: on the demo shop, and the back-test on the CDNOW sample
imported as orders (Fader, Hardie & Lee's data: the fit before 1997-10-01 is the paper's)."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from tests.cli.conftest import Shop

CDNOW = Path(__file__).resolve().parents[1] / "predict" / "data" / "CDNOW_sample.txt"


def cdnow_orders_csv(folder: Path) -> Path:
    """The CDNOW sample in the import format: one order per line, a customer per CDNOW id."""
    path = folder / "cdnow_orders.csv"
    rows = np.loadtxt(CDNOW)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["external_id", "email", "channel", "amount", "currency", "placed_at"])
        for number, (_, customer, stamp, _, amount) in enumerate(rows.tolist()):
            day = date(int(stamp) // 10000, int(stamp) // 100 % 100, int(stamp) % 100)
            writer.writerow(
                [
                    f"CD-{number}",
                    f"c{int(customer)}@example.com",
                    "online",
                    f"{amount:.2f}",
                    "EUR",
                    f"{day.isoformat()}T12:00:00",
                ]
            )
    return path


def cdnow_holdout_order_days() -> int:
    """Order days (a customer's orders on one day count once) from 1997-10-01 to 1998-06-30."""
    rows = np.loadtxt(CDNOW)
    stamps = rows[:, 2].astype(np.int64)
    holdout = (stamps >= 19971001) & (stamps <= 19980630)
    return len(set(zip(rows[holdout, 1].tolist(), stamps[holdout].tolist(), strict=True)))


def test_predict_scores_the_demo_shop_and_says_what_it_did(shop: Shop) -> None:
    loaded = shop.run("demo-data", "--customers", "400", "--now", "2026-11-23T00:00:00+00:00")
    assert loaded.code == 0, loaded.err
    done = shop.run("predict", "--json")
    assert done.code == 0, done.err
    result = json.loads(done.out)
    run = result["run"]
    with shop.database() as database, database.engine.connect() as connection:
        customers = connection.execute(text("SELECT count(*) FROM customer")).scalar_one()
        buyers, predicted = connection.execute(
            text(
                "SELECT count(*) FILTER (WHERE orders_count > 0),"
                " count(*) FILTER (WHERE churn_risk IS NOT NULL) FROM customer"
            )
        ).one()
        stamped = connection.execute(
            text("SELECT count(*) FROM customer WHERE predicted_at IS NOT NULL")
        ).scalar_one()
    assert run["customers"] == customers == stamped
    assert run["scored"] == buyers == predicted
    assert 0 <= run["shop_best_hour"] <= 23
    assert result["bgnbd"]["r"] > 0 and result["gamma_gamma"]["p"] > 0
    assert run["seconds"] < 30

    table = shop.run("predict")
    assert table.code == 0, table.err
    for words in ("customers scored", "BG/NBD", "Gamma-Gamma", "time taken"):
        assert words in table.out


def test_the_backtest_on_the_demo_shop(shop: Shop) -> None:
    shop.run("demo-data", "--customers", "400", "--now", "2026-11-23T00:00:00+00:00")
    done = shop.run("predict", "--backtest", "--until", "2026-05-01", "--json")
    assert done.code == 0, done.err
    result = json.loads(done.out)
    assert result["backtest"]["until"] == "2026-05-01"
    assert result["backtest"]["end"] == "2026-11-23"  # the frozen clock's today
    assert len(result["calibration"]) == 8
    assert (
        sum(group["customers"] for group in result["calibration"])
        == (result["backtest"]["customers"])
    )


def test_the_backtest_on_cdnow_finds_the_papers_model(shop: Shop, tmp_path: Path) -> None:
    imported = shop.run("import", "orders", str(cdnow_orders_csv(tmp_path)))
    assert imported.code == 0, imported.err
    done = shop.run(
        "predict", "--backtest", "--until", "1997-10-01", "--to", "1998-06-30", "--json"
    )
    assert done.code == 0, done.err
    result = json.loads(done.out)
    bgnbd = result["bgnbd"]
    assert bgnbd["r"] == pytest.approx(0.243, rel=0.02)
    assert bgnbd["alpha_days"] / 7 == pytest.approx(4.414, rel=0.02)  # the paper's weeks
    assert bgnbd["a"] == pytest.approx(0.793, rel=0.02)
    assert bgnbd["b"] == pytest.approx(2.426, rel=0.02)

    summary = result["backtest"]
    assert summary["customers"] == 2357
    assert summary["actual_orders"] == cdnow_holdout_order_days()
    # The paper's Figure 4: 1,411 customers without a repeat order; per group the mean
    # predicted lies close to the mean actual.
    groups = result["calibration"]
    assert [group["repeat_orders"] for group in groups] == list(range(8))
    assert groups[0]["customers"] == 1411
    for group in groups:
        assert group["mean_predicted"] == pytest.approx(group["mean_actual"], abs=0.6)
    # it under-predicts the holdout by ~12 % (1,653 for 1,882 order days), as in the paper
    assert summary["predicted_orders"] == pytest.approx(summary["actual_orders"], rel=0.15)
    # BG/NBD's P(active) is 1 without a repeat order: CDNOW's 1,411 one-off buyers get no
    # churn risk at all, and churn risk ranks worse than a coin. The model's expected orders
    # rank who does not come back well.
    assert 0.0 < summary["churn_auc"] < 0.5
    assert summary["expected_orders_auc"] > 0.75
    model, naive = result["next_order"]
    assert model["customers"] == naive["customers"] > 0
    assert naive["method"].startswith("naive (last + ")

    table = shop.run("predict", "--backtest", "--until", "1997-10-01", "--to", "1998-06-30")
    assert table.code == 0, table.err
    assert "Figure 4" in table.out and "7+" in table.out and "AUC" in table.out


def test_bad_dates_and_options_are_named(shop: Shop) -> None:
    missing = shop.run("predict", "--backtest")
    assert missing.code == 2 and "--until" in missing.err
    wrong = shop.run("predict", "--backtest", "--until", "1st of May")
    assert wrong.code == 2 and "--until" in wrong.err and "1st of May" in wrong.err
    alone = shop.run("predict", "--until", "2026-05-01")
    assert alone.code == 2 and "--backtest" in alone.err
    empty = shop.run("predict", "--backtest", "--until", "2026-05-01")
    assert empty.code == 1 and "cannot back-test" in empty.err
