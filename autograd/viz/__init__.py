"""Seeing the backward pass: graph export, gradient heat, backprop frames.

``to_dot`` (dot.py) draws the graph behind outputs; ``record_gradients``
(record.py) captures gradients during a backward for the heat colouring;
``backprop_frames`` (frames.py) turns a backward replay into pictures;
``layout.py`` draws SVG without Graphviz; ``tape`` (tape_view.py) prints the tape as
a table.  All of them read tape nodes through their public node API only.
"""
from .dot import FORMATS, GraphView, dot_available, to_dot
from .frames import Frames, backprop_frames
from .record import record_gradients, record_tangents
