"""Synthetic RA cohort generator: phantom hands and wrists written in the exact RAM-H1200 and RAM-W600 layouts.

``generate_cohort(out, hands=24, seed=0, size="small")`` writes ``out/RAM-H1200-v1`` and ``out/RAM-W600``;
``ramkit.synth.phantom.draw_hand`` draws one radiograph with its masks, scores and joint boxes.
"""

from ramkit.synth.cohort import generate_cohort
from ramkit.synth.phantom import HandDrawing, draw_hand

__all__ = ["generate_cohort", "draw_hand", "HandDrawing"]
