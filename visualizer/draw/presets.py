"""Presets: how frames are drawn for their audience (text sizes by role, line and marker scales, which
panels show, the frame size they default to). Light to import: the command line lists the names."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """How a frame is drawn for its audience: the frame size it defaults to, the size of each text role
    (points on the reference figure, 12.8 x 7.2 inches; the dpi scales the figure to the frame, so a size is
    a share of the frame's height at any size), line and marker scales, and whether secondary panels
    (``Layout.secondary``) are shown. ``min_text`` and ``min_title``: the smallest share of the frame's
    height any text, and any title, may take (what ``visualizer check`` holds the frame to)."""

    name: str
    size: tuple[int, int]
    sizes: dict  # text role (visualizer.draw.text.SIZE_ROLES) -> points
    min_text: float
    min_title: float
    lines: float = 1.0
    markers: float = 1.0
    secondary: bool = True
    theme: str = "light"  # the colours' theme (visualizer.draw.colours.THEMES): light, or dark for dark halls

    def style(self) -> dict:
        """The matplotlib style (rc parameters) of this preset."""
        role = self.sizes
        return {**self._sizes(role), **self._colours()}

    def _colours(self) -> dict:
        from . import colours

        t = colours.THEMES[self.theme]
        back, fore, muted = t["BACKGROUND"], t["FOREGROUND"], t["MUTED"]
        if self.theme == "light":  # matplotlib's own colours on white
            return {"figure.facecolor": back}
        return {"figure.facecolor": back, "axes.facecolor": back, "savefig.facecolor": back, "text.color": fore,
                "axes.labelcolor": fore, "axes.edgecolor": fore, "axes.titlecolor": fore, "xtick.color": fore,
                "ytick.color": fore, "xtick.labelcolor": fore, "ytick.labelcolor": fore, "grid.color": muted,
                "legend.facecolor": back, "legend.edgecolor": muted, "legend.labelcolor": fore,
                "patch.edgecolor": fore, "lines.color": fore}

    def _sizes(self, role) -> dict:
        return {
            "font.size": role["body"], "axes.titlesize": role["heading"], "axes.labelsize": role["label"],
            "xtick.labelsize": role["detail"], "ytick.labelsize": role["detail"], "legend.fontsize": role["legend"],
            "legend.title_fontsize": role["legend"], "figure.titlesize": role["title"],
            "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.25,
            "grid.linewidth": 0.6 * self.lines, "axes.linewidth": 0.8 * self.lines,
            "lines.linewidth": 1.5 * self.lines, "lines.markersize": 6.0 * self.markers,
            "patch.linewidth": 1.0 * self.lines, "xtick.major.width": 0.8 * self.lines,
            "ytick.major.width": 0.8 * self.lines, "xtick.major.size": 3.5 * self.lines,
            "ytick.major.size": 3.5 * self.lines,
            "axes.formatter.limits": (-3, 4), "axes.formatter.use_mathtext": True,
        }


REFERENCE_HEIGHT = 7.2  # inches: the figure's height at the dpi the renderer picks (1280x720 at 100 dpi)
PRESETS = {
    # Today's frames, with no text under 1.8 % of the frame's height (13 px of 720).
    "default": Preset("default", (1280, 720), dict(detail=9.5, label=10.0, legend=9.5, body=10.5, heading=11.0,
                                                    title=13.0), min_text=0.018, min_title=0.018),
    # For a lecture hall: 1920x1080, no text under 2.5 % of the height (27 px), titles at least 3.3 %,
    # thicker lines and bigger markers, and only the panels that carry the lesson.
    "lecture": Preset("lecture", (1920, 1080), dict(detail=13.2, label=13.8, legend=13.2, body=14.5,
                                                    heading=17.5, title=19.0),
                      min_text=0.025, min_title=0.033, lines=1.5, markers=1.4, secondary=False),
}


THEMES = ("light", "dark")  # visualizer.draw.colours.THEMES' names (this module stays light to import)


def preset_named(name: str | Preset) -> Preset:
    """The preset called ``name``, or ``"NAME:THEME"`` drawn in that theme (ValueError naming the known ones
    otherwise)."""
    if isinstance(name, Preset):
        return name
    if ":" in name:
        name, _, theme = name.partition(":")
        if theme not in THEMES:
            raise ValueError(f"unknown theme {theme!r}; use one of {', '.join(THEMES)}")
        import dataclasses

        return dataclasses.replace(preset_named(name), name=f"{name}:{theme}", theme=theme)
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}")
    return PRESETS[name]
