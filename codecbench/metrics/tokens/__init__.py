"""Are a codec's tokens good for a language model? Token stability (``stability.py``: do
meaning-irrelevant changes of the input change the tokens?) and token predictability (``lm.py``: how
many bits does a small LM trained on the tokens need for held-out speech?). See docs/tokens.md."""

from __future__ import annotations

from codecbench.metrics.base import Metric


def metrics() -> list[Metric]:
    from codecbench.metrics.tokens.lm import TokenLM
    from codecbench.metrics.tokens.stability import TokenStability

    return [TokenStability(), TokenLM()]
