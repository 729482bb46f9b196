"""Read a Graphviz SVG back as a reader sees it: where each node, text and line is.

Graphviz writes one ``<g class="node">`` per node (``<title>`` its id, a shape, its texts) and
one ``<g class="edge">`` per edge (``<title>`` "tail->head", a path, arrowhead polygons), all
under one transform, so coordinates can be compared as they are. A text's box comes from its
anchor point, font size and the width ``viz.text`` estimates (with the renderers' slack).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from viz import text as viz_text
from viz.layout import Rect

NS = "{http://www.w3.org/2000/svg}"
_NUM = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


@dataclass
class Text:
    node: str  # the id of the node it belongs to
    text: str
    x: float
    y: float
    size: float
    anchor: str

    def box(self, shrink: float = 0.5) -> tuple[float, float, float, float]:
        """(left, top, right, bottom), slightly shrunk so that touching is not crossing."""
        w = viz_text.width(self.text, self.size)
        left = self.x - w / 2 if self.anchor == "middle" else self.x - w if self.anchor == "end" else self.x
        top, bottom = self.y - 0.78 * self.size, self.y + 0.22 * self.size
        return left + shrink, top + shrink, left + w - shrink, bottom - shrink

    @property
    def centre(self) -> tuple[float, float]:
        left, top, right, bottom = self.box(0)
        return (left + right) / 2, (top + bottom) / 2


@dataclass
class Shape:
    id: str
    box: tuple[float, float, float, float]  # left, top, right, bottom of its outline
    fill: str | None
    texts: list[Text] = field(default_factory=list)
    stroke: str | None = None  # the outline's colour
    dashed: bool = False  # the outline is dashed

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


@dataclass
class Line:
    tail: str
    head: str
    points: list[tuple[float, float]]
    arrowheads: int
    dashed: bool
    heads: list[list[tuple[float, float]]] = field(default_factory=list)  # each arrowhead's corners


@dataclass
class Svg:
    nodes: dict[str, Shape]
    lines: list[Line]
    width: float
    height: float

    def texts(self) -> list[Text]:
        return [t for n in self.nodes.values() for t in n.texts]


def _pairs(values: list[float]) -> list[tuple[float, float]]:
    return list(zip(values[::2], values[1::2], strict=False))


def _outline(g: ET.Element) -> tuple[list[tuple[float, float]], ET.Element | None]:
    """The points of a node's outline (its first shape) and that shape's element."""
    for el in g.iter():
        tag = el.tag.replace(NS, "")
        if tag == "polygon":
            return _pairs([float(v) for v in _NUM.findall(el.get("points", ""))]), el
        if tag == "path":
            return _pairs([float(v) for v in _NUM.findall(el.get("d", ""))]), el
        if tag == "ellipse":
            cx, cy, rx, ry = (float(el.get(k, 0)) for k in ("cx", "cy", "rx", "ry"))
            return [(cx - rx, cy - ry), (cx + rx, cy + ry)], el
    return [], None


def parse(svg: str | bytes) -> Svg:
    root = ET.fromstring(svg)
    width = float(_NUM.findall(root.get("width", "0"))[0])
    height = float(_NUM.findall(root.get("height", "0"))[0])
    nodes: dict[str, Shape] = {}
    lines: list[Line] = []
    for g in root.iter(f"{NS}g"):
        cls = g.get("class")
        title = g.find(f"{NS}title")
        if cls not in ("node", "edge") or title is None:
            continue
        name = (title.text or "").strip()
        if cls == "node":
            pts, el = _outline(g)
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            box = (min(xs), min(ys), max(xs), max(ys)) if pts else (0.0, 0.0, 0.0, 0.0)
            shape = Shape(name, box, None if el is None else el.get("fill"))
            if el is not None:
                shape.stroke, shape.dashed = el.get("stroke"), el.get("stroke-dasharray") is not None
            for t in g.iter(f"{NS}text"):
                shape.texts.append(Text(name, "".join(t.itertext()), float(t.get("x", 0)), float(t.get("y", 0)),
                                        float(t.get("font-size", 14)), t.get("text-anchor", "start")))  # fmt: skip
            nodes[name] = shape
        else:
            tail, _, head = name.partition("->")
            path = g.find(f"{NS}path")
            points = _pairs([float(v) for v in _NUM.findall(path.get("d", ""))]) if path is not None else []
            heads = [_pairs([float(v) for v in _NUM.findall(p.get("points", ""))])[:3] for p in g.iter(f"{NS}polygon")]
            dashed = path is not None and path.get("stroke-dasharray") is not None
            lines.append(Line(tail, head, points, len(heads), dashed, heads))
    return Svg(nodes, lines, width, height)


def crosses(a: tuple[float, float], b: tuple[float, float], box: tuple[float, float, float, float]) -> bool:
    """Whether the segment a-b passes through the box (left, top, right, bottom)."""
    left, top, right, bottom = box
    return Rect((left + right) / 2, (top + bottom) / 2, right - left, bottom - top).crossed_by(a, b)


def struck_texts(svg: Svg) -> list[tuple[str, str]]:
    """(text, line) for every text that a line passes through."""
    out = []
    for line in svg.lines:
        for t in svg.texts():
            if any(crosses(a, b, t.box()) for a, b in zip(line.points, line.points[1:], strict=False)):
                out.append((t.text, f"{line.tail}->{line.head}"))
    return out
