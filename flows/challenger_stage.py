"""Live challengers (issue 24): each rebalance scores the champion's challengers in shadow.

After the book is published, the champion's scores of the day (when it drove) and its
challengers' (``governance.decisions.challengers.shadow_versions``: the previous champion,
the versions in paper; and 12-1 momentum from prices) are recorded side by side as
``challengers.scored`` (subject ``book:<strategy>``, artifact ``scores.parquet``: ``asset``
and one column per signal). Nothing here drives the book. The monitor realises their
outcomes once the horizon has passed (validation/challengers_live.py).

A challenger that cannot be scored (its files missing, features the data lacks) is named in
the entry's ``errors``; the published book is never touched by a shadow.
"""

from __future__ import annotations

import io

import pandas as pd

from flows.run import Run
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject

MOMENTUM = "momentum_12_1"
_MOMENTUM_FEATURE = "mom_12_1"  # tasks/model/features.py: 12-month return skipping the last


def shadow_challengers(
    run: Run, panel, champion: ModelRef | None, scores: pd.Series | None
) -> None:
    """Score and record the champion's challengers on the panel's last date."""
    from governance.decisions.challengers import shadow_versions
    from tasks.model.dataset import frame_to_parquet
    from tasks.model.features import FEATURES_BY_NAME, compute_features
    from tasks.model.scoring import latest_scores, load_scoring_model
    from validation.challengers_live import CHAMPION

    if champion is None:
        return
    ctx, strategy = run.now, run.config.model.name
    ref = champion
    signals: dict[str, pd.Series] = {}
    meta, errors = [], []
    if scores is not None:
        signals[CHAMPION] = scores
        meta.append({"signal": CHAMPION, "kind": CHAMPION, "version": ref.version})
    for kind, version in shadow_versions(ctx.ledger, strategy):
        name = f"{kind}_v{version}"
        try:
            model = load_scoring_model(run.ws, ModelRef(strategy, version))
            cfg = model.features_config(run.config.features)  # its signed contract
            signals[name] = latest_scores(model, compute_features(panel, cfg))
            meta.append({"signal": name, "kind": kind, "version": version})
        except Exception as exc:  # a shadow never stops the rebalance; the entry says why
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    try:
        signals[MOMENTUM] = FEATURES_BY_NAME[_MOMENTUM_FEATURE].fn(panel).iloc[-1]
        meta.append({"signal": MOMENTUM, "kind": "momentum", "version": None})
    except Exception as exc:  # as above: named in the entry, the book untouched
        errors.append(f"{MOMENTUM}: {type(exc).__name__}: {exc}")
    frame = pd.DataFrame(signals).reindex(panel.close.columns)
    frame = frame.rename_axis("asset").reset_index()
    frame["asset"] = frame["asset"].astype(str)
    asof = str(pd.Timestamp(panel.close.index[-1]).date())
    entry = ctx.record(
        Action.CHALLENGERS_SCORED,
        subject=Subject.book(strategy),
        payload={"model_name": strategy, "asof": asof, "champion_version": ref.version,
                 "signals": meta, "errors": errors},
        artifacts={"scores.parquet": ctx.store.put_bytes(frame_to_parquet(frame))},
    )  # fmt: skip
    run.summary.note(
        "challengers",
        headline=f"{len(meta) - (scores is not None)} challengers scored in shadow",
        signals=[m["signal"] for m in meta],
        errors=errors,
        ledger_seq=entry.seq,
    )


def shadow_history(ledger, strategy: str) -> list[tuple[pd.Timestamp, pd.DataFrame]]:
    """Every recorded shadow scoring of ``strategy``: ``[(day, scores)]`` in ledger order
    (the last one per day counts)."""
    by_day = {}
    for e in ledger.entries(action=Action.CHALLENGERS_SCORED, subject=Subject.book(strategy)):
        raw = ledger.store.read_bytes(e.artifacts["scores.parquet"])
        by_day[pd.Timestamp(e.payload["asof"])] = pd.read_parquet(io.BytesIO(raw))
    return sorted(by_day.items(), key=lambda kv: kv[0])
