"""The Foxglove layout shipped as config/fdvla.foxglove.json, built with foxglove-sdk's typed
layout API: both cameras, measured vs predicted wrench, the TCP / servo target / predicted path
in 3D, the instruction and /diagnostics.

    python -m fdvla_policy_node.view.layout config/fdvla.foxglove.json   # regenerate
"""

from __future__ import annotations

import sys
from pathlib import Path

from fdvla_msgs import topics


def build_layout():
    import foxglove.layouts as fl

    def image(cam):
        return fl.ImagePanel(title=f"{cam} camera", config=fl.ImageConfig(
            image_mode=fl.ImageModeConfig(image_topic=topics.camera_image_topic(cam))))

    def force(axis):
        return [fl.PlotSeries(value=f"{topics.WRENCH}.wrench.force.{axis}", label=f"measured F{axis}",
                              timestamp_method="headerStamp"),
                fl.PlotSeries(value=f"{topics.PREDICTED_WRENCH}.wrench.force.{axis}",
                              label=f"predicted F{axis}", line_style="dashed",
                              timestamp_method="headerStamp")]

    wrench = fl.PlotPanel(title="wrench: measured vs predicted (N)", config=fl.PlotConfig(
        paths=force("z") + force("x") + force("y"), show_legend=True, x_axis_val="timestamp",
        time_window_mode="sliding", following_view_width=15.0))
    scene = fl.ThreeDeePanel(title="TCP, servo target, predicted path", config=fl.ThreeDeeConfig(
        follow_tf=topics.BASE_FRAME, topics={
            topics.PREDICTED_PATH: fl.BaseRendererPosesTopicSettings(visible=True, type="line",
                                                                     line_width=0.004),
            topics.TCP_POSE: fl.BaseRendererPoseTopicSettings(visible=True, type="axis",
                                                              axis_scale=0.3),
            topics.CONTROLLER_TARGET_POSE: fl.BaseRendererPoseTopicSettings(visible=True,
                                                                            type="arrow"),
        }))
    status = fl.SplitContainer(direction="column", items=[
        fl.SplitItem(proportion=1, content=fl.RawMessagesPanel(
            title="instruction", config=fl.RawMessagesConfig(topic_path=f"{topics.INSTRUCTION}.data"))),
        fl.SplitItem(proportion=3, content=fl.DiagnosticsSummaryPanel(title="diagnostics")),
    ])
    return fl.Layout(content=fl.SplitContainer(direction="row", items=[
        fl.SplitItem(proportion=1, content=fl.SplitContainer(direction="column", items=[
            fl.SplitItem(content=image("kinect")), fl.SplitItem(content=image("wrist"))])),
        fl.SplitItem(proportion=2, content=fl.SplitContainer(direction="column", items=[
            fl.SplitItem(content=fl.SplitContainer(direction="row", items=[
                fl.SplitItem(proportion=3, content=scene), fl.SplitItem(proportion=1, content=status)])),
            fl.SplitItem(content=wrench)])),
    ]))


def layout_json() -> str:
    return build_layout().to_json() + "\n"


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "config/fdvla.foxglove.json")
    out.write_text(layout_json())
    print(f"wrote {out}")
