"""Rendering: OpenPose's skeleton drawing on images (`skeleton`) and on matplotlib axes (`plot`).

    render_pose(image_rgb, poses, ...) -> uint8 RGB      jaxpose.render.skeleton
    output_canvas(image_rgb, output_size)                jaxpose.render.skeleton
    plot(image, poses, ax=None, ...) -> Axes             jaxpose.render.plot.plot, also `jaxpose.plot`
                                                         (needs matplotlib, imported on first use)
"""

from jaxpose.render.skeleton import RenderSet, output_canvas, render_pose, render_sets

__all__ = ["RenderSet", "output_canvas", "render_pose", "render_sets"]
