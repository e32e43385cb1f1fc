"""In-house codec family: one frame-rate model (log-STFT encoder, ConvNeXt decoder with an iSTFT
head) with RVQ, FSQ or VAE bottlenecks.

* ``config.ModelConfig``: the architecture, stored beside every checkpoint as JSON.
* ``model.InhouseModel``: the torch module (encode/decode/forward).
* ``checkpoint``: safetensors + config.json I/O (no pickle); mismatches raise ``CheckpointMismatch``.
* ``train``: the trainer behind ``codecbench train``.

torch is imported by the submodules, not here, so ``import codecbench.inhouse`` stays cheap.
"""
