"""Pure statistics of validation: worked values from the papers, invariants, self-consistency."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from skfolio.measures import deflated_sharpe_ratio as sk_dsr
from skfolio.measures import probabilistic_sharpe_ratio as sk_psr

from governance.policy.schema import Severity, ValidationPolicy
from tasks.model.stats import newey_west_tstat
from tests.helpers_validation import holdout_frame
from validation.challengers import run_challengers
from validation.drift import drift_table, ks_test, psi
from validation.findings import Finding, Verdict, build_findings, verdict_of
from validation.metrics import (
    ICMethod,
    evaluate_signal,
    ic_series,
    signal_turnover,
)
from validation.overfitting import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    min_track_record_length,
    pbo_cscv,
    probabilistic_sharpe_ratio,
    return_moments,
)

# ---------------------------------------------------------------- overfitting: worked values


def test_expected_max_sharpe_matches_the_papers_numeric_example():
    # Bailey & López de Prado (2014), section 7: N = 100 trials with annualised
    # V[SR_n] = 0.5 over daily returns -> SR_0 = 0.1132 per day.
    assert expected_max_sharpe(100, 0.5 / 250) == pytest.approx(0.1132, abs=5e-4)
    assert expected_max_sharpe(1, 0.5) == 0.0  # one trial: nothing to deflate


def test_psr_is_the_closed_form_of_the_papers_eq_8():
    # PSR(SR*) = Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2)) on the
    # series' own moments (skfolio computes it; the formula is the paper's).
    rng = np.random.default_rng(5)
    r = 0.0004 + 0.01 * rng.standard_t(4, size=900)
    m = return_moments(r)
    for bench in (0.0, 0.02):
        factor = 1 - m.skew * m.sharpe + (m.kurtosis - 1) / 4 * m.sharpe**2
        z = (m.sharpe - bench) * math.sqrt(m.n_obs - 1) / math.sqrt(factor)
        expected = 0.5 * (1 + math.erf(z / math.sqrt(2)))
        assert probabilistic_sharpe_ratio(r, bench) == pytest.approx(expected, rel=1e-12)


def test_min_trl_is_the_track_record_at_which_psr_reaches_the_confidence():
    # MinTRL inverts the PSR: a series as long as MinTRL has PSR = 0.95 exactly ([1] eq. 11)
    # when its moments stay those MinTRL was computed from.
    sr, skew, kurt, bench = 0.08, -1.5, 8.0, 0.02
    n = min_track_record_length(sr, skew, kurt, benchmark=bench, confidence=0.95)
    factor = 1 - skew * sr + (kurt - 1) / 4 * sr**2
    z = (sr - bench) * math.sqrt(n - 1) / math.sqrt(factor)
    assert 0.5 * (1 + math.erf(z / math.sqrt(2))) == pytest.approx(0.95, abs=1e-12)
    # Negative skew and fat tails lengthen the track record needed.
    assert min_track_record_length(0.08, -1.5, 8.0) > min_track_record_length(0.08, 0.0, 3.0)
    assert min_track_record_length(0.0, 0.0, 3.0) == math.inf
    # On real series: PSR >= 0.95 exactly when the series is at least MinTRL long.
    rng = np.random.default_rng(11)
    for size in (100, 400, 1600):
        r = 0.0008 + 0.01 * rng.standard_normal(size)
        m = return_moments(r)
        trl = min_track_record_length(m.sharpe, m.skew, m.kurtosis)
        assert (probabilistic_sharpe_ratio(r) >= 0.95) == (size >= trl)


def test_psr_and_dsr_agree_with_skfolio_reference_implementation():
    rng = np.random.default_rng(3)
    r = 0.0005 + 0.01 * rng.standard_t(5, size=1500)
    assert probabilistic_sharpe_ratio(r) == pytest.approx(sk_psr(r), rel=1e-9)
    trials = rng.normal(0.0, 0.03, size=40)
    dsr, _ = deflated_sharpe_ratio(r, len(trials), float(np.var(trials, ddof=1)))
    assert dsr == pytest.approx(sk_dsr(r, trials), rel=1e-9)


def test_pbo_is_near_half_for_noise_and_near_zero_when_one_strategy_dominates():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, size=(1600, 20))
    res = pbo_cscv(noise, n_partitions=10)
    assert res.n_combinations == math.comb(10, 5)
    assert 0.3 < res.pbo < 0.7
    skilled = noise.copy()
    skilled[:, 7] += 0.004  # Sharpe ~ 6 annualised: best in and out of sample
    res = pbo_cscv(skilled, n_partitions=10)
    assert res.pbo < 0.05
    assert res.prob_oos_loss < 0.05
    assert math.isnan(pbo_cscv(noise[:, :1]).pbo)  # one strategy: nothing to select from


# ---------------------------------------------------------------- metrics


@pytest.fixture(scope="module")
def planted():
    return holdout_frame(n_assets=60, n_days=400, strength=0.0008, seed=1)


@pytest.fixture(scope="module")
def null():
    return holdout_frame(n_assets=60, n_days=400, strength=0.0, seed=2)


def test_rank_ic_equals_scipy_spearman_per_date(planted):
    from scipy.stats import spearmanr

    ic = ic_series(planted, "signal", "fwd_ret", ICMethod.SPEARMAN)
    for d in ic.index[[0, 100, -1]]:
        day = planted[planted["date"] == d].dropna(subset=["signal", "fwd_ret"])
        rho = spearmanr(day["signal"], day["fwd_ret"]).statistic
        assert ic[d] == pytest.approx(rho, abs=1e-12)


def test_newey_west_equals_plain_t_without_lags_and_widens_with_overlap():
    rng = np.random.default_rng(0)
    x = rng.normal(0.02, 0.1, size=500)
    _, se, _ = newey_west_tstat(x, 0)
    assert se == pytest.approx(np.std(x) / math.sqrt(500), rel=1e-12)
    overlap = pd.Series(rng.normal(0.02, 0.1, size=520)).rolling(21).mean().dropna().to_numpy()
    assert newey_west_tstat(overlap, 20)[2] < newey_west_tstat(overlap, 0)[2]


def test_planted_signal_is_found_and_null_signal_is_not(planted, null):
    m, ls = evaluate_signal(planted, "signal", horizon=5)
    assert m.rank_ic_mean > 0.05 and m.rank_ic_tstat > 3
    assert list(m.quantile_returns) == [1, 2, 3, 4, 5]
    assert m.quantile_returns[5] > m.quantile_returns[1] and m.top_minus_bottom > 0
    assert m.ls_sharpe > 1 and len(ls) >= m.n_dates  # fwd_ret_1 covers more dates
    assert set(m.ic_by_regime) == {"high_vol", "low_vol"}
    assert set(m.ic_decay) == {1, 5, 21, 63}
    assert m.nw_lags == 4
    m0, _ = evaluate_signal(null, "signal", horizon=5)
    assert abs(m0.rank_ic_mean) < 0.03 and abs(m0.rank_ic_tstat) < 2.5


def test_turnover_zero_for_static_signal_and_high_for_random(planted):
    static = planted.assign(static=planted["asset"].str[1:].astype(float))
    assert signal_turnover(static, "static") == 0.0
    rnd = planted.assign(rnd=np.random.default_rng(0).random(len(planted)))
    assert signal_turnover(rnd, "rnd") == pytest.approx(0.8, abs=0.03)


def test_challengers_margin_is_model_minus_challenger(planted):
    m, _ = evaluate_signal(planted, "signal", horizon=5)
    chs = run_challengers(planted, m, seed=0, horizon=5)
    assert [c.name for c in chs] == ["momentum_12_1", "random"]
    for c in chs:
        assert c.margin_rank_ic == pytest.approx(m.rank_ic_mean - c.metrics.rank_ic_mean)
    assert abs(chs[1].metrics.rank_ic_mean) < 0.03
    missing = run_challengers(planted.drop(columns="mom_12_1"), m, seed=0, horizon=5)
    assert not missing[0].available and math.isnan(missing[0].margin_rank_ic)


# ---------------------------------------------------------------- drift


def test_psi_uses_reference_deciles_and_flags_shift():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=20_000)
    assert psi(ref, rng.normal(size=20_000)) < 0.01
    # Hand-computed: current entirely in the reference's top decile (others floored at 1e-4).
    cur = np.full(1000, 10.0)
    expected = 9 * (1e-4 - 0.1) * math.log(1e-4 / 0.1) + (1 - 0.1) * math.log(1 / 0.1)
    assert psi(ref, cur) == pytest.approx(expected, rel=1e-3)
    assert psi(ref, ref + 1.0) > 0.25
    stat, p = ks_test(ref, ref + 1.0)
    assert stat > 0.3 and p < 1e-10
    table = drift_table(
        pd.DataFrame({"a": ref, "b": ref}),
        pd.DataFrame({"a": rng.normal(size=5000), "b": rng.normal(0.35, 1, size=5000)}),
        ["a", "b", "absent"],
        psi_warning=0.1,
        psi_critical=0.25,
    )
    assert [r.variable for r in table] == ["a", "b"]
    assert table[0].status is Severity.INFO and table[1].status is Severity.WARNING


# ---------------------------------------------------------------- findings


def _findings(policy, m, chs=(), dsr=0.99, pbo=0.1):
    return build_findings(policy, model=m, challengers=chs, dsr=dsr, pbo=pbo, shap=None, drift=[])


def test_findings_and_verdict_follow_policy(planted, null):
    policy = ValidationPolicy()
    m, _ = evaluate_signal(planted, "signal", horizon=5)
    chs = run_challengers(planted, m, seed=0, horizon=5)
    good = _findings(policy, m, chs)
    assert good == [] and verdict_of(good) is Verdict.PASS
    # A score that peeks at the future return: rank IC far above the plausibility bound.
    rng = np.random.default_rng(0)
    leak = planted.assign(leak=planted["fwd_ret"] + 0.01 * rng.standard_normal(len(planted)))
    ml, _ = evaluate_signal(leak, "leak", horizon=5)
    fl = _findings(policy, ml)
    assert [f.check for f in fl] == ["rank_ic_implausible"] and verdict_of(fl) is Verdict.FAIL
    m0, _ = evaluate_signal(null, "signal", horizon=5)
    bad = _findings(policy, m0, dsr=0.2, pbo=0.7)
    checks = {f.check for f in bad}
    assert {"ic_tstat_below_min", "dsr_below_min", "pbo_above_max"} <= checks
    assert verdict_of(bad) is Verdict.FAIL
    # A NaN gating statistic fails closed to a human review.
    nan = _findings(policy, m, dsr=math.nan)
    assert [f.check for f in nan] == ["statistic_unavailable"]
    assert verdict_of(nan) is Verdict.REVIEW
    # The policy can override a check's default severity.
    lenient = ValidationPolicy(severities={"dsr_below_min": Severity.INFO})
    fs = _findings(lenient, m, dsr=0.5)
    assert fs[0].severity is Severity.INFO and verdict_of(fs) is Verdict.PASS
    assert verdict_of([Finding("x", Severity.WARNING, "m")]) is Verdict.REVIEW


def test_vectorised_cscv_equals_the_papers_loop():
    # The algorithm of Bailey et al. (2017), section 3, written as a plain loop.
    import itertools

    from scipy.stats import rankdata

    rng = np.random.default_rng(5)
    m = rng.normal(0.0002, 0.01, size=(600, 7))
    s = 6
    blocks = np.array_split(m, s)
    logits = []
    for combo in itertools.combinations(range(s), s // 2):
        is_ = np.vstack([blocks[i] for i in combo])
        oos = np.vstack([blocks[i] for i in range(s) if i not in combo])
        sr_is = is_.mean(0) / is_.std(0, ddof=1)
        sr_oos = oos.mean(0) / oos.std(0, ddof=1)
        w = rankdata(sr_oos)[np.argmax(sr_is)] / (m.shape[1] + 1)
        logits.append(math.log(w / (1 - w)))
    res = pbo_cscv(m, n_partitions=s)
    np.testing.assert_allclose(res.logits, logits, rtol=1e-9)
    assert res.pbo == pytest.approx(np.mean(np.asarray(logits) <= 0))


def test_unknown_check_name_in_policy_severities_is_an_input_error(planted):
    from governance.ground.errors import InputError

    m, _ = evaluate_signal(planted, "signal", horizon=5)
    bad = ValidationPolicy(severities={"rank_ic_too_low": Severity.INFO})
    with pytest.raises(InputError, match="rank_ic_too_low"):
        _findings(bad, m)


# ---------------------------------------------------------------- SHAP


def test_shap_is_exact_and_sign_checks_catch_a_wrong_declaration():
    import lightgbm as lgb
    import shap

    from validation.explain import shap_values, stratified_sample, summarise_shap

    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2020-01-01", periods=500)
    n = len(dates) * 8
    frame = pd.DataFrame(
        {
            "date": np.repeat(dates.to_numpy(), 8),
            "asset": np.tile([f"A{i}" for i in range(8)], len(dates)),
            "up": rng.standard_normal(n),
            "down": rng.standard_normal(n),
            "noise": rng.standard_normal(n),
        }
    )
    y = frame["up"] - frame["down"] + 0.5 * rng.standard_normal(n)
    feats = ["up", "down", "noise"]
    booster = lgb.train(
        {"objective": "regression", "num_leaves": 7, "verbose": -1, "seed": 0},
        lgb.Dataset(frame[feats].to_numpy(), y.to_numpy()),
        num_boost_round=40,
    )
    sample = stratified_sample(frame, 600, seed=1)
    assert len(sample) == 600 and sample.equals(stratified_sample(frame, 600, seed=1))
    per_date = sample.groupby("date").size()  # spread over time: 1-2 rows on every date
    assert per_date.max() <= 2 and per_date.size == len(dates)
    values = shap_values(booster, sample[feats])
    base = shap.TreeExplainer(booster).expected_value
    # Exact tree SHAP: contributions add up to the model's prediction row by row.
    np.testing.assert_allclose(
        values.sum(axis=1) + base, booster.predict(sample[feats].to_numpy()), atol=1e-6
    )
    summary = summarise_shap(sample, values, feats, {"up": 1, "down": 1, "noise": -1})
    checks = {c.feature: c for c in summary.sign_checks}
    assert checks["up"].ok and checks["up"].observed_sign == 1
    assert not checks["down"].ok and checks["down"].observed_sign == -1  # declared wrongly
    assert checks["noise"].ok  # immaterial: not judged
    assert list(summary.importance)[-1] == "noise"
    assert 0.3 < summary.top_share < 0.7 and summary.rank_stability > 0.9
