"""The ML core of arf_ids: plain Python, no Dagster or BentoML imports.

Each module holds one idea: ``schema`` (flow features), ``generator`` (synthetic
traffic), ``readers`` (real data files), ``model`` (the ARF bundle and confident
prediction), ``drift`` (ADWIN with trend confirmation), ``merge`` (concept-balanced
replay), ``preprocess`` (split and SMOTE), ``retrain`` (incremental ARF retrain),
``evaluation`` (metrics and the promotion gate), ``logstore`` (prediction and label
log), ``registry`` (the MLflow model registry).
"""
