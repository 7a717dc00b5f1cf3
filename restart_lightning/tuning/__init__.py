"""Sampler tuning: where a model's error lives (diagnose), searches over sampler families (tune)."""
