"""What the sampler-evaluation callback orchestrates: shares, metrics, pictures, files (sampler specs are
parsed by ``restart_lightning.sampling.registry``)."""
