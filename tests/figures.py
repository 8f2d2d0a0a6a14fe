"""Checks on matplotlib figures as a user sees them."""

from matplotlib.figure import Figure


def cut_off(fig: Figure) -> str:
    """Where the drawn artists (what ``bbox_inches="tight"`` would keep) reach beyond the
    canvas of a default save, or "" when everything is inside."""
    fig.canvas.draw()
    drawn = fig.get_tightbbox(fig.canvas.get_renderer())
    width, height = fig.get_size_inches()
    tolerance = 0.02  # inches: 2 pixels at 100 dpi
    if (drawn.x0 < -tolerance or drawn.y0 < -tolerance
            or drawn.x1 > width + tolerance or drawn.y1 > height + tolerance):
        return f"drawn {drawn.bounds} beyond the {width:.2f} x {height:.2f} in canvas"
    return ""
