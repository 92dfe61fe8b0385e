"""Solvers: regrets, exact LPs, no-regret dynamics and the worst-case CCE samplers."""
