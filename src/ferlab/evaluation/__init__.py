"""Evaluation: probabilities (with optional test-time augmentation) and the study's metrics,
calibration, label stability and scenes with known truth. `compute_metrics`, `evaluate_model` and
`predict_probs` load lazily, so importing a numpy-only module here (scores, evaluate) never pays
for torch."""

__all__ = ["compute_metrics", "evaluate_model", "predict_probs"]


def __getattr__(name: str):
    if name in __all__:
        from ferlab.evaluation import metrics

        return getattr(metrics, name)
    raise AttributeError(f"module 'ferlab.evaluation' has no attribute {name!r}")
