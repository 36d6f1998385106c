"""Pictures and tables for people: mask overlays (more report writers grow here)."""

from ramkit.report.overlay import overlay_rgb, write_rgb

__all__ = ["overlay_rgb", "write_rgb"]
