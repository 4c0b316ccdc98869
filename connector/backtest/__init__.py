"""`healthsync backtest`: the score replayed as of past snapshots against the outcomes that followed.

`replay.py` computes the score table at each snapshot (no look-ahead) and joins the outcomes; the metrics are pure
functions in `healthsync.scoring.backtest`; `suggest.py` fits suggested weights and tiers (extra `backtest`);
`report.py` renders the self-contained HTML report (extra `backtest`).
"""
