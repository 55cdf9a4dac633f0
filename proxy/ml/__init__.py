"""Governing ML model endpoints: inputs as features, risk per prediction, shared statistics.

features.py   prediction bodies (KServe v1, v2, plain JSON) read as rows of features. Pure
outputs.py    class probabilities read from prediction answers. Pure
risk.py       ML risk of one prediction: confidence, outlier, drift, combined. Pure
stats.py      per-model statistics as read from Redis, drift against the baseline. Pure
lua.py        the Redis scripts: Welford/Chan merge, baseline freeze and reset
observer.py   observations queued by the recorder, merged into Redis off the request path
registry.py   per-model reports for the admin API and alerts (drift and health)
scoring.py    the ReadPrediction stage and the scorer EnforceResponse asks for ML risk
settings.py   the `ml:` section of config.yaml

Input contracts are policy: see proxy/policy/contract.py.
"""
