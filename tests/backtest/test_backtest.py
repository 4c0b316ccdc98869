"""`healthsync backtest` through the CLI on a product with a known truth (tests/backtest/product.py).

The expected numbers are computed here independently: each snapshot's score table from `healthsync score` with
`as_of` = the snapshot, the pairs and outcomes from the accounts file, the AUC with scikit-learn.
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from healthsync.connector.cli import main
from tests.backtest.product import END, Product, make_product

HORIZON = pd.Timedelta(days=90)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `healthsync ARGS` in this process; (exit code, stdout, stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["--log-format", "text", *args])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def backtest_json(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> dict[str, Any]:
    code, out, err = cli(capsys, "backtest", "--config", str(config), "--format", "json", *args)
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Product:
    return make_product(tmp_path_factory.mktemp("product"))


@pytest.fixture(scope="module")
def baseline(product: Product) -> tuple[dict[str, Any], pd.DataFrame]:
    """The backtest of the product's own config (weights favour the noise event) and its pairs file."""
    pairs, out = product.folder / "pairs.csv", product.folder / "baseline.json"
    with pytest.raises(SystemExit) as exited:
        main(["--log-format", "text", "backtest", "-c", str(product.config), "--format", "json", "-o", str(out),
              "--pairs", str(pairs)])  # fmt: skip
    assert not exited.value.code
    return json.loads(out.read_text()), pd.read_csv(pairs)


def copy_product(product: Product, folder: Path) -> None:
    """The product's data and config in `folder`, without what the tests wrote next to them."""
    skip = shutil.ignore_patterns("*.db", "scores_*", "as_of_*", "accounts_*", "pairs.csv", "*.json")
    shutil.copytree(product.folder, folder, ignore=skip)


def _score_table(capsys: pytest.CaptureFixture[str], product: Product, snapshot: str) -> pd.DataFrame:
    """`healthsync score` as of the snapshot, on the accounts as they were then (churned later = paying)."""
    accounts = product.accounts.copy()
    later = pd.to_datetime(accounts["churned_at"].replace("", None), utc=True) > pd.Timestamp(snapshot)
    accounts.loc[later.fillna(False).astype(bool), "status"] = "paying"
    then = f"accounts_{snapshot[:10]}.csv"
    accounts.to_csv(product.folder / then, index=False)
    config = product.with_config(f"as_of_{snapshot[:10]}.yaml", as_of=snapshot)
    document = yaml.safe_load(config.read_text())
    document["source"]["accounts"] = then
    config.write_text(yaml.safe_dump(document))
    out = product.folder / f"scores_{snapshot[:10]}.json"
    code, _, err = cli(capsys, "score", "--config", str(config), "--format", "json", "--output", str(out))
    assert code == 0, err
    return pd.DataFrame(json.loads(out.read_text())).assign(snapshot=pd.Timestamp(snapshot))


def _expected_pairs(product: Product, tables: pd.DataFrame) -> pd.DataFrame:
    accounts = product.accounts.assign(
        created_at=pd.to_datetime(product.accounts["created_at"], utc=True),
        churned_at=pd.to_datetime(product.accounts["churned_at"].replace("", None), utc=True),
    )
    joined = tables.merge(accounts[["account_id", "created_at", "churned_at"]], on="account_id")
    snapshot = joined["snapshot"]
    counted = (
        (joined["created_at"] <= snapshot)
        & (joined["churned_at"].isna() | (joined["churned_at"] > snapshot))
        & (snapshot + HORIZON <= pd.Timestamp(END))
    )
    pairs = joined[counted]
    churned = (pairs["churned_at"] > pairs["snapshot"]) & (pairs["churned_at"] <= pairs["snapshot"] + HORIZON)
    return pairs.assign(positive=churned.fillna(False).astype(bool))


def test_metrics_equal_an_independent_computation_from_each_snapshots_score_table(
    capsys: pytest.CaptureFixture[str], product: Product, baseline: tuple[dict[str, Any], pd.DataFrame]
) -> None:
    result = baseline[0]
    assert len(result["snapshots"]) == 12
    tables = pd.concat([_score_table(capsys, product, snapshot) for snapshot in result["snapshots"]])
    pairs = _expected_pairs(product, tables)
    churn = result["outcomes"]["churn"]
    positive = pairs["positive"].to_numpy()
    assert churn["pairs"] == len(pairs)
    assert churn["positives"] == int(positive.sum()) >= 30
    assert churn["base_rate"] == pytest.approx(positive.mean(), abs=1e-12)
    assert churn["auc"] == pytest.approx(roc_auc_score(positive, -pairs["health_score"]), abs=1e-12)
    low, high = churn["auc_ci"]
    assert low < churn["auc"] < high
    for tier in ("healthy", "neutral", "at_risk"):
        chosen = pairs["health_tier"].eq(tier).to_numpy()
        assert churn["by_tier"][tier]["pairs"] == int(chosen.sum())
        assert churn["by_tier"][tier]["rate"] == pytest.approx(positive[chosen].mean(), abs=1e-12)
        assert churn["by_tier"][tier]["lift"] == pytest.approx(positive[chosen].mean() / positive.mean())
    assert churn["size_auc"] == pytest.approx(roc_auc_score(positive, -pairs["total_users"]), abs=1e-12)
    fired = pairs["plays"].map(lambda plays: "churn_risk" in plays).to_numpy()
    assert churn["plays"]["churn_risk"]["rate"] == pytest.approx(positive[fired].mean(), abs=1e-12)
    assert sum(row["pairs"] for row in churn["by_decile"]) == len(pairs)
    exported = baseline[1].assign(snapshot=pd.to_datetime(baseline[1]["snapshot"], utc=True))
    both = pairs.merge(exported, on=["snapshot", "account_id"], suffixes=("", "_backtest"))
    assert len(both) == len(pairs)
    for column in ("health_score", "raw_score", "health_tier", "score_reasons", "score_movers", "days_to_activation"):
        expected = both[column].astype("string").fillna("")
        found = both[f"{column}_backtest"].astype("string").fillna("")
        if column in ("raw_score", "days_to_activation"):
            expected = pd.to_numeric(both[column]).astype("Float64").astype("string").fillna("")
            found = pd.to_numeric(both[f"{column}_backtest"]).astype("Float64").astype("string").fillna("")
        assert expected.equals(found), column
    joined_plays = both["plays"].map(";".join).astype("string")
    assert joined_plays.equals(both["plays_backtest"].astype("string").fillna("")), "plays"
    mix = {row["snapshot"]: row for row in result["tier_mix"]}
    for snapshot, group in pairs.groupby("snapshot"):
        row = mix[snapshot.strftime("%Y-%m-%dT%H:%M:%SZ")]
        assert row["at_risk"] == int(group["health_tier"].eq("at_risk").sum())


def test_weights_on_the_causal_event_warn_better_and_the_suggestion_moves_weight_there(
    capsys: pytest.CaptureFixture[str], product: Product, baseline: tuple[dict[str, Any], pd.DataFrame]
) -> None:
    noise = baseline[0]["outcomes"]["churn"]  # weights: noise 10, core 1
    causal_config = product.with_config("causal.yaml", weights={"core_action": 10, "noise_action": 1})
    causal = backtest_json(capsys, causal_config)["outcomes"]["churn"]
    assert causal["auc"] > noise["auc"] + 0.05
    suggested = noise["suggested"]
    assert suggested is not None, noise["suggestion_note"]
    assert suggested["weights"]["core_action"] > suggested["weights"]["noise_action"]
    assert suggested["holdout_auc"] >= suggested["configured_holdout_auc"] + 0.05
    pasted = yaml.safe_load(suggested["weights_yaml"])
    assert pasted["scoring"]["weights"] == suggested["weights"]
    assert suggested["tiers"]["at_risk"] < suggested["tiers"]["healthy"]


def test_events_after_a_snapshot_never_change_its_scores(
    capsys: pytest.CaptureFixture[str], product: Product, baseline: tuple[dict[str, Any], pd.DataFrame], tmp_path: Path
) -> None:
    first = baseline[1]
    snapshots = sorted(first["snapshot"].unique())
    cut = pd.Timestamp(snapshots[5])
    late = tmp_path / "late"
    copy_product(product, late)
    accounts = first["account_id"].unique()[:40]
    moments = [cut, cut + timedelta(seconds=1), cut + timedelta(days=3)]  # at the snapshot instant, and after
    extra = pd.DataFrame(
        [(account, f"{account}-u0", "noise_action", moment.isoformat()) for account in accounts for moment in moments]
        * 20,
        columns=["account_id", "user_id", "event", "timestamp"],
    )
    events = pd.concat([pd.read_csv(late / "events.csv"), extra])
    events.to_csv(late / "events.csv", index=False)
    after = tmp_path / "after.csv"
    backtest_json(capsys, late / "healthsync.yaml", "--pairs", str(after))
    second = pd.read_csv(after)
    keys = ["snapshot", "account_id"]
    merged = first.merge(second, on=keys, suffixes=("_before", "_after"))
    assert len(merged) == len(first) == len(second)
    upto = pd.to_datetime(merged["snapshot"]) <= cut
    for column in ("health_score", "raw_score", "health_tier", "plays"):
        assert merged.loc[upto, f"{column}_before"].equals(merged.loc[upto, f"{column}_after"]), column
    assert (merged.loc[~upto, "raw_score_before"] != merged.loc[~upto, "raw_score_after"]).any()


def test_a_missing_churn_date_column_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str], product: Product, tmp_path: Path
) -> None:
    folder = tmp_path / "nochurn"
    copy_product(product, folder)
    pd.read_csv(folder / "accounts.csv").drop(columns=["churned_at"]).to_csv(folder / "accounts.csv", index=False)
    code, out, err = cli(capsys, "backtest", "--config", str(folder / "healthsync.yaml"), "--outcome", "churn")
    assert code == 2
    assert "churned_at" in err
    assert "source.columns.accounts.churned_at" in err
    assert out == ""
    code, _, err = cli(capsys, "backtest", "--config", str(folder / "healthsync.yaml"))
    assert code == 2
    assert "source.outcomes" in err
    code, _, err = cli(capsys, "backtest", "--config", str(product.config), "--outcome", "expansion")
    assert code == 2
    assert "source.outcomes" in err


def test_fewer_than_30_positives_give_metrics_and_say_why_there_is_no_suggestion(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    small = make_product(tmp_path / "small", accounts=24, hazard=0.002, seed=5)
    result = backtest_json(capsys, small.config)
    churn = result["outcomes"]["churn"]
    assert 0 < churn["positives"] < 30
    assert churn["auc"] is not None
    assert churn["suggested"] is None
    assert churn["suggestion_note"] == f"fewer than 30 positives ({churn['positives']}): no suggestion"
    code, out, _ = cli(capsys, "backtest", "--config", str(small.config))
    assert code == 0
    assert f"suggestion: none (fewer than 30 positives ({churn['positives']})" in out


def test_expansion_is_read_from_the_outcomes_table(
    capsys: pytest.CaptureFixture[str], product: Product, tmp_path: Path
) -> None:
    folder = tmp_path / "expansion"
    copy_product(product, folder)
    rng = np.random.default_rng(1)
    live = product.accounts[product.accounts["churned_at"].eq("") | product.accounts["churned_at"].isna()]
    chosen = live.sample(30, random_state=1)["account_id"]
    moments = [END - timedelta(days=int(days)) for days in rng.integers(95, 300, len(chosen))]
    outcomes = pd.DataFrame(
        {"account": chosen, "kind": "Expansion", "at": [m.isoformat() for m in moments], "value": 100.0}
    )
    noise = pd.DataFrame({"account": ["acc9999", chosen.iloc[0]], "kind": ["Expansion", "renewal"],
                          "at": [moments[0].isoformat()] * 2, "value": 1.0})  # fmt: skip
    pd.concat([outcomes, noise]).to_csv(folder / "upsells.csv", index=False)
    document = yaml.safe_load((folder / "healthsync.yaml").read_text())
    document["source"]["outcomes"] = "upsells.csv"
    document["source"]["columns"] = {"outcomes": {"account_id": "account", "outcome": "kind", "occurred_at": "at"}}
    (folder / "healthsync.yaml").write_text(yaml.safe_dump(document))
    result = backtest_json(
        capsys, folder / "healthsync.yaml", "--outcome", "expansion", "--pairs", str(tmp_path / "p.csv")
    )
    assert list(result["outcomes"]) == ["expansion"]
    assert "outcomes: 1 of 32 rows are not `expansion` (renewal) and are not used" in result["notes"]
    assert "outcomes: 1 rows name an account not in the accounts table (e.g. 'acc9999')" in result["notes"]
    pairs = pd.read_csv(tmp_path / "p.csv")
    expected = 0
    for account, moment in zip(chosen, moments, strict=True):
        snapshots = pd.to_datetime(pairs.loc[pairs["account_id"].eq(account), "snapshot"])
        expected += int(((snapshots < pd.Timestamp(moment)) & (snapshots + HORIZON >= pd.Timestamp(moment))).sum())
    assert result["outcomes"]["expansion"]["positives"] == expected == int(pairs["expansion"].sum())
    assert "expansion_milestone" in result["outcomes"]["expansion"]["plays"]


def test_the_table_format_names_the_numbers(capsys: pytest.CaptureFixture[str], product: Product) -> None:
    code, out, _ = cli(capsys, "backtest", "--config", str(product.config), "--every", "60d", "--horizon", "60d")
    assert code == 0
    assert "every 60 days, horizon 60 days" in out
    assert "ROC AUC" in out
    assert "suggested weights (never applied by themselves)" in out
    code, _, err = cli(capsys, "backtest", "--config", str(product.config), "--every", "monthly")
    assert code == 2
    assert "30d" in err


def test_without_the_extra_the_metrics_print_and_say_how_to_get_suggestions_and_the_report(
    capsys: pytest.CaptureFixture[str], product: Product, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("sklearn", "matplotlib"):
        monkeypatch.setitem(sys.modules, name, None)  # what a plain `pip install .` sees
    monkeypatch.delitem(sys.modules, "healthsync.connector.backtest.charts", raising=False)
    config = product.with_config("quarterly.yaml")
    code, out, _ = cli(capsys, "backtest", "--config", str(config), "--every", "90d")
    assert code == 0
    assert "ROC AUC 0." in out
    assert "suggestion: none (suggested weights need scikit-learn: pip install 'healthsync[backtest]')" in out
    code, _, err = cli(capsys, "backtest", "--config", str(config), "--every", "90d", "--format", "html")
    assert code != 0
    assert "pip install 'healthsync[backtest]'" in err


def test_snapshots_scored_in_forked_processes_equal_one_process(
    capsys: pytest.CaptureFixture[str], product: Product, baseline: tuple[dict[str, Any], pd.DataFrame],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    pairs = tmp_path / "pairs.csv"
    monkeypatch.setenv("HEALTHSYNC_BACKTEST_PROCESSES", "1")
    result = backtest_json(capsys, product.config, "--pairs", str(pairs))
    assert result == baseline[0]  # the baseline ran with the default: one process per core, up to 4
    pd.testing.assert_frame_equal(pd.read_csv(pairs), baseline[1])
    monkeypatch.setenv("HEALTHSYNC_BACKTEST_PROCESSES", "3")
    assert backtest_json(capsys, product.config) == baseline[0]
    monkeypatch.setenv("HEALTHSYNC_BACKTEST_PROCESSES", "two")
    code, _, err = cli(capsys, "backtest", "--config", str(product.config), "--format", "json")
    assert code == 2
    assert "HEALTHSYNC_BACKTEST_PROCESSES='two' is not a whole number" in err
