"""placeholder"""
from __future__ import annotations
from dataclasses import dataclass
from ramkit.tasks.base import TaskKind


@dataclass(frozen=True, eq=False)
class MilKind(TaskKind):
    model_kind = "mil"
    input = "bag"
    def class_names(self, spec, be_protocol="svdh90"):
        return ("total",)
