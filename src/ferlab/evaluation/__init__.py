"""Evaluation: probabilities (with optional test-time augmentation) and the study's metrics."""

from ferlab.evaluation.metrics import compute_metrics, evaluate_model, predict_probs

__all__ = ["compute_metrics", "evaluate_model", "predict_probs"]
