"""``ramkit synth OUT``: write a synthetic RAM-H1200 + RAM-W600 cohort (both layouts, exactly)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command to ``app``."""

    @app.command("synth")
    def synth(
        out: Path = typer.Argument(..., help="Folder that receives RAM-H1200-v1/ and RAM-W600/."),
        hands: int = typer.Option(24, "--hands", help="Number of hand radiographs (>= 3)."),
        seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives byte-identical files."),
        size: str = typer.Option(
            "small",
            "--size",
            help="small (about 432x320 hands at 0.7 mm/px, 160x160 wrists), "
            "medium (864x640 at 0.35 mm/px, 300x300 wrists) or full "
            "(1720x1280 at 0.175 mm/px, 600x600 wrists at 0.15 mm/px).",
        ),
        wrists: int = typer.Option(None, "--wrists", help="Number of wrist crops (default: same as --hands)."),
    ) -> None:
        """Generate a synthetic cohort of phantom hands and wrists with masks, lesions, joint boxes and scores."""
        from ramkit.io.atomic import check_output_dir
        from ramkit.synth import generate_cohort

        check_output_dir(out)
        info = generate_cohort(out, hands=hands, seed=seed, size=size, progress=True, wrists=wrists)
        h, w = info["hand"], info["wrist"]
        typer.echo(
            f"wrote {info['h1200']}: {h['images']} hands, {h['patients']} patients, splits {h['splits']}, "
            f"BE>0 {h['be_positive_rate']:.0%}, JSN>0 {h['jsn_positive_rate']:.0%}"
        )
        typer.echo(
            f"wrote {info['w600']}: {w['images']} wrists, {w['patients']} patients, splits {w['splits']}, "
            f"BE>0 {w['be_positive_rate']:.0%}"
        )
        typer.echo(f"took {sum(info['seconds'].values()):.1f} s")
