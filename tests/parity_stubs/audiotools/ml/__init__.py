"""Stand-in for audiotools.ml: dac's models subclass BaseModel (an nn.Module with save/load helpers)."""

import torch


class BaseModel(torch.nn.Module):
    INTERN: list = []
    EXTERN: list = []


class Accelerator:
    pass
