"""The diagrams read at a glance: no label covers another (in every diagram the notebooks draw),
the layout of compare() and grouped plots never collides, colours survive colour blindness."""

import asyncio

import diagram_checks
import numpy as np
import pytest
from asynclab import Timeline
from asynclab.timeline import drawing
from matplotlib.figure import Figure

# -- the checker itself ---------------------------------------------------------------------


def test_the_checker_finds_overlapping_and_cut_off_labels():
    figure = Figure(figsize=(4, 2))
    figure.text(0.1, 0.5, "GET /slow?delay=0.1")
    figure.text(0.12, 0.5, "GET /slow?delay=0.2")
    figure.text(0.1, 0.1, "far from the others")
    figure.text(0.95, 0.9, "runs off the right edge")
    found = diagram_checks.problems(figure)
    assert found["texts"] == 4
    assert found["overlaps"] == [["GET /slow?delay=0.1", "GET /slow?delay=0.2"]]
    assert found["cut_off"] == ["runs off the right edge"]


def test_the_checker_finds_a_title_running_into_the_axes_above():
    figure = Figure(figsize=(4, 3))
    upper = figure.add_axes([0.1, 0.5, 0.8, 0.4])
    upper.set_title("above", loc="left")
    lower = figure.add_axes([0.1, 0.1, 0.8, 0.38])
    lower.set_title("below", loc="left")
    assert ["below", "above"] in diagram_checks.problems(figure)["collisions"]


# -- diagrams drawn here ----------------------------------------------------------------------


def timeline_with(requests, phases=1):
    """A timeline whose server lane had ``requests`` requests in flight at once, and whose
    block's lane has ``phases`` nested phases."""

    async def main():
        async with Timeline("many at once", show=False) as tl:
            start = tl.started_at
            await asyncio.sleep(0.05)
            # Nested phases on the block's lane, each ending at 50 ms.
            block_lane = asyncio.current_task().get_name()
            for depth in range(phases):
                phase = {"label": f"phase level {depth}", "start": start + 0.0001 * depth, "end": start + 0.05}
                tl.add_spans([phase], lane=block_lane, kind="phase")
            tl.add_spans(
                [
                    {"label": f"GET /slow?delay=0.1&n={n}", "start": start + 0.001 * n, "end": start + 0.04}
                    for n in range(requests)
                ],
                lane="server",
            )
        return tl

    return asyncio.run(main())


@pytest.mark.parametrize("requests", [1, 3, 6, 12])
def test_concurrent_requests_get_sub_rows_and_labels_never_overlap(requests):
    tl = timeline_with(requests, phases=3)
    found = diagram_checks.problems(tl.plot())
    assert not diagram_checks.unreadable(found), found
    assert found["texts"] >= requests + 3  # every request and phase is labelled


def test_the_server_lane_grows_with_the_requests_in_flight():
    few, many = (drawing.Layout(timeline_with(n).snapshot(), None) for n in (1, 8))
    assert few.height[-1] == 1.0
    assert many.height[-1] > 4 * few.height[-1]
    assert many.depth[-1] == 8


def test_a_label_too_long_for_its_bar_is_shortened_not_spilled():
    async def main():
        async with Timeline(show=False) as tl:
            start = tl.started_at
            await asyncio.sleep(0.01)
            tl.add_spans(
                [
                    {"label": "a very long label " * 8, "start": start, "end": start + 0.004},
                    {"label": "next", "start": start + 0.004, "end": start + 0.008},
                ],
                lane="server",
            )
        return tl

    figure = asyncio.run(main()).plot()
    found = diagram_checks.problems(figure)
    assert not diagram_checks.unreadable(found), found
    written = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert any(text.startswith("a very long") and text.endswith(drawing.ELLIPSIS) for text in written), written


def test_compare_and_grouped_plots_keep_titles_legend_and_axes_apart():
    first, second = timeline_with(6, phases=2), timeline_with(2)
    for figure in (
        first.compare(second, titles=("six at once", "two at once")),
        first.compare(Timeline()),
        first.plot(group=lambda lane: "server side" if lane == "server" else "tasks"),
    ):
        found = diagram_checks.problems(figure)
        assert not diagram_checks.unreadable(found), found
        assert len(figure.legends) == 1


# -- colours ------------------------------------------------------------------------------------

# Machado, Oliveira & Fernandes (2009), severity 1.0, applied to linear RGB.
DEFICIENCIES = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}


def linear(rgb):
    rgb = np.asarray(rgb, dtype=float)
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def lab(linear_rgb):
    """CIELAB (D65) of linear sRGB colours."""
    xyz = (
        np.clip(linear_rgb, 0, 1)
        @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    )
    xyz = xyz / np.array([0.9505, 1.0, 1.089])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def closest_pair(colors, deficiency):
    from matplotlib.colors import to_rgb

    seen = linear([to_rgb(c) for c in colors]) @ np.array(DEFICIENCIES[deficiency]).T
    points = lab(seen)
    return min(np.linalg.norm(points[i] - points[j]) for i in range(len(points)) for j in range(i + 1, len(points)))


@pytest.mark.parametrize("deficiency", sorted(DEFICIENCIES))
def test_lane_colours_stay_apart_under_colour_blindness(deficiency):
    # Neighbouring lanes take neighbouring palette colours; any two must differ clearly
    # (CIE76 distance; 10 is a plainly visible difference). tab10 fails this (green, orange).
    assert closest_pair(drawing.PALETTE, deficiency) > 10


def test_running_and_waiting_differ_in_grayscale():
    from matplotlib.colors import to_rgb

    for color in drawing.PALETTE:
        running = np.array(to_rgb(color))
        waiting = drawing.lighter(running, drawing.WAITING_TINT)
        luminance = [lab(linear(c))[0] for c in (running, waiting)]
        assert luminance[1] - luminance[0] > 15, color


# Every diagram of every notebook is checked by test_notebooks' fresh-kernel run (diagram_checks).
