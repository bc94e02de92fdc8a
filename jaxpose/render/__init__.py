"""Rendering: OpenPose's skeleton drawing on images (`skeleton`) and on matplotlib axes (`plot`).

    render_pose(image_rgb, poses, ...) -> uint8 RGB      jaxpose.render.skeleton
    output_canvas(image_rgb, output_size)                jaxpose.render.skeleton
    plot(image, poses, ax=None, ...) -> Axes             jaxpose.render.plot (needs matplotlib)
"""

from jaxpose.render.skeleton import RenderSet, output_canvas, render_pose, render_sets

__all__ = ["RenderSet", "output_canvas", "render_pose", "render_sets", "plot"]


def __getattr__(name: str):
    if name == "plot":
        from jaxpose.render.plot import plot
        return plot
    raise AttributeError(f"module 'jaxpose.render' has no attribute {name!r}")
