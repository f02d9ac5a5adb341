"""``torch.utils.tensorboard`` for tapegrad: `SummaryWriter` with PyTorch's name,
signature and methods, writing TensorBoard event files through the ``tensorboard``
package's own event-file writer and protocol buffers (the ``tapegrad[tensorboard]``
extra).  Values may be tapegrad tensors, NumPy arrays or Python numbers.

``add_graph(model, input)`` runs the model once and writes the tape it records as a
TensorBoard graph: one node per tape entry, named ``Model/Sequential[features]/
Conv2d[0]/Convolution_N`` so that TensorBoard's name scopes are the module scopes (as
PyTorch's add_graph names them), with the op's name and output shapes;
parameters and inputs are the graph's sources.  It reads the tape through the public
node API (``walk``, ``next_functions``, ``scope_path``, ``output_metadata``), as the
graph viewers in ``autograd.viz`` do.
"""
import io
import math
import os
import socket
import time
from datetime import datetime

import numpy as np

from ..engine import walk
from ..function import AccumulateGrad
from ..grad_mode import enable_grad
from ..tensor import Tensor

__all__ = ["SummaryWriter"]

_EXTRA = ("SummaryWriter needs the tensorboard package, which is tapegrad's optional "
          "'tensorboard' extra: pip install 'tapegrad[tensorboard]' (or pip install tensorboard)")


def _tb():
    """The tensorboard modules the writer uses, imported on first use."""
    try:
        from tensorboard.compat.proto import (attr_value_pb2, event_pb2, graph_pb2, node_def_pb2,
                                              summary_pb2, tensor_pb2, tensor_shape_pb2, versions_pb2)
        from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
        from tensorboard.plugins.hparams import metadata as hparams_metadata
        from tensorboard.plugins.scalar import metadata as scalar_metadata
        from tensorboard.plugins.text import metadata as text_metadata
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as e:
        raise ImportError(_EXTRA) from e
    return locals()


def _array(value, method, what):
    """A tensor, array or number as a NumPy array; anything else is refused by name."""
    if isinstance(value, Tensor):
        return value.detach().array
    if isinstance(value, (np.ndarray, np.generic, int, float)) and not isinstance(value, bool):
        return np.asarray(value)
    if isinstance(value, (list, tuple)):
        try:
            return np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            pass
    raise TypeError(f"SummaryWriter.{method}: {what} must be a tensor, a NumPy array or a number, "
                    f"got {type(value).__name__}")


def _scalar(value, method, what="scalar_value"):
    arr = _array(value, method, what)
    if arr.size != 1 or arr.dtype.kind not in "biuf":
        raise ValueError(f"SummaryWriter.{method}: {what} must be one real number, got an array of "
                         f"shape {arr.shape} and dtype {arr.dtype}")
    return float(arr.reshape(()))


def _check_tag(tag, method):
    if not isinstance(tag, str):
        raise TypeError(f"SummaryWriter.{method}: tag must be a str, got {type(tag).__name__}")


def _writable_dir(log_dir):
    try:
        os.makedirs(log_dir, exist_ok=True)
    except OSError as e:
        raise OSError(e.errno, f"SummaryWriter: cannot create the log directory {log_dir!r} "
                               f"({e.strerror})") from None
    if not os.access(log_dir, os.W_OK | os.X_OK):
        raise PermissionError(f"SummaryWriter: the log directory {log_dir!r} is not writable")


# -- images --------------------------------------------------------------------------
def _to_hwc(arr, dataformats, method):
    """An image of layout ``dataformats`` (CHW, HWC, HW; batches NCHW, NHWC, NHW as a
    grid of up to 8 columns) as height x width x channels."""
    fmt = dataformats.upper()
    if len(fmt) != arr.ndim or set(fmt) - set("NCHW") or len(set(fmt)) != len(fmt):
        raise ValueError(f"SummaryWriter.{method}: dataformats {dataformats!r} does not fit an image "
                         f"of shape {arr.shape}")
    order = [fmt.index(c) for c in "NHWC" if c in fmt]
    arr = arr.transpose(order)
    if "C" not in fmt:
        arr = arr[..., None]
    if "N" in fmt:          # a batch: tile it into one picture, row by row
        n, h, w, c = arr.shape
        cols = min(n, 8)
        rows = max(1, math.ceil(n / cols))
        grid = np.zeros((rows * h, cols * w, c), arr.dtype)
        for i in range(n):
            r, k = divmod(i, cols)
            grid[r * h:(r + 1) * h, k * w:(k + 1) * w] = arr[i]
        arr = grid
    if arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"SummaryWriter.{method}: an image has 1, 3 or 4 channels, got {arr.shape[2]}")
    return arr


def _png(hwc):
    """PNG bytes of an HWC image: uint8 as it is, floats taken as [0, 1] (PyTorch's rule)."""
    from PIL import Image
    if hwc.dtype != np.uint8:
        hwc = np.clip(hwc.astype(np.float64) * 255.0, 0, 255).round().astype(np.uint8)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[hwc.shape[2]]
    buf = io.BytesIO()
    Image.fromarray(hwc[..., 0] if mode == "L" else hwc, mode).save(buf, format="PNG")
    return buf.getvalue()


def _figure_rgba(figure):
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba()).copy()


# -- histograms ----------------------------------------------------------------------
def _tensorflow_bins():
    """TensorFlow's default buckets, as PyTorch's writer makes them: +-1e-12 growing by
    10% while below 1e20, and 0."""
    edges, v = [], 1e-12
    while v < 1e20:
        edges.append(v)
        v *= 1.1
    return [-e for e in reversed(edges)] + [0] + edges


def _histogram(tb, values, bins, max_bins):
    """PyTorch's histogram (``make_histogram``): NumPy's counts, neighbours summed down
    to ``max_bins``, cut to the support plus one empty bucket on the left (TensorBoard
    shows right limits only, so that bucket carries the left edge)."""
    values = values.astype(np.float64).ravel()
    if values.size == 0:
        raise ValueError("SummaryWriter.add_histogram: values is empty")
    if not np.isfinite(values).all():
        raise ValueError("SummaryWriter.add_histogram: values holds inf or nan")
    counts, limits = np.histogram(values, bins=_tensorflow_bins() if bins == "tensorflow" else bins)
    if max_bins is not None and counts.size > max_bins:
        step = counts.size // max_bins
        counts = np.pad(counts, (0, -counts.size % step)).reshape(-1, step).sum(-1)
        limits = np.append(limits[:-1:step], limits[-1])
    nonzero = np.flatnonzero(counts)
    if not nonzero.size:
        raise ValueError("SummaryWriter.add_histogram: no value falls inside the bins")
    start, end = nonzero[0], nonzero[-1] + 1
    counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
    limits = limits[start:end + 1]
    return tb["summary_pb2"].HistogramProto(
        min=values.min(), max=values.max(), num=values.size, sum=values.sum(),
        sum_squares=float(values @ values), bucket_limit=limits.tolist(), bucket=counts.tolist())


# -- graphs --------------------------------------------------------------------------
def _shape_attr(tb, shapes):
    shape = tb["tensor_shape_pb2"].TensorShapeProto
    value = tb["attr_value_pb2"].AttrValue
    return value(list=value.ListValue(shape=[shape(dim=[shape.Dim(size=int(s)) for s in sh]) for sh in shapes]))


def _graph_def(tb, model, inputs, outputs):
    """The recorded tape of ``outputs`` as a GraphDef (see the module docstring)."""
    NodeDef, value = tb["node_def_pb2"].NodeDef, tb["attr_value_pb2"].AttrValue
    top = type(model).__name__
    kinds = {path: type(m).__name__ for path, m in model.named_modules() if path}

    def scope(parts):
        """Module path parts as name scopes, PyTorch's way: ``Sequential[features]/Conv2d[0]``."""
        return [f"{kinds[p]}[{part}]" if (p := ".".join(parts[:i + 1])) in kinds else part
                for i, part in enumerate(parts)]

    param_names = {id(p): name for name, p in model.named_parameters()}
    input_names = {id(x): f"input/input.{i}" for i, x in enumerate(inputs)}
    nodes, leaves = walk(outputs)
    names, defs = {}, []
    for leaf in leaves:
        if id(leaf) in input_names:
            name, op = input_names[id(leaf)], "IO Node"
        else:
            dotted = param_names.get(id(leaf)) or leaf.name or f"leaf.{len(names)}"
            *path, short = dotted.split(".")
            name, op = "/".join([top, *scope(path), short]), "Parameter"
        names[id(leaf)] = name
        defs.append(NodeDef(name=name, op=op, attr={"_output_shapes": _shape_attr(tb, [leaf.shape]),
                                                   "dtype": value(s=str(leaf.dtype).encode())}))
    for n in nodes:
        op = type(n).__name__
        name = names[id(n)] = "/".join([top, *scope(list(n.scope_path)), f"{op}_{n.sequence_nr()}"])
        sources = []
        for src, nr in n.next_functions:
            if src is None:
                continue
            if isinstance(src, AccumulateGrad):
                sources.append(names[id(src.variable)])
            else:
                sources.append(names[id(src)] + (f":{nr}" if nr else ""))
        shapes = [m.shape for m in n.output_metadata]
        defs.append(NodeDef(name=name, op=op, input=sources, attr={
            "_output_shapes": _shape_attr(tb, shapes),
            "tape_position": value(i=n.sequence_nr()),
            "module": value(s=".".join(n.scope_path).encode())}))
    for i, out in enumerate(outputs):
        src = names.get(id(out.grad_fn)) or names.get(id(out))
        defs.append(NodeDef(name=f"output/output.{i}", op="IO Node", input=[src] if src else [],
                            attr={"_output_shapes": _shape_attr(tb, [out.shape])}))
    return tb["graph_pb2"].GraphDef(node=defs, versions=tb["versions_pb2"].VersionDef(producer=22))


def _flat_tensors(obj):
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _flat_tensors(item)]
    return []


# -- the writer ----------------------------------------------------------------------
class SummaryWriter:
    """``SummaryWriter(log_dir=None, comment='', purge_step=None, max_queue=10,
    flush_secs=120, filename_suffix='')``: writes an event file into ``log_dir``
    (default ``runs/DATETIME_HOSTNAME{comment}``), which TensorBoard reads."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120,
                 filename_suffix=""):
        self._tb = _tb()
        if not log_dir:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = os.fspath(log_dir)
        self.purge_step, self.max_queue, self.flush_secs = purge_step, max_queue, flush_secs
        self.filename_suffix = filename_suffix
        self._writers = {}                         # log dir -> EventFileWriter (add_scalars' runs)
        self.file_writer = self._writer_for(self.log_dir)
        if purge_step is not None:                 # TensorBoard drops later steps of an old run
            Event, SessionLog = self._tb["event_pb2"].Event, self._tb["event_pb2"].SessionLog
            self.file_writer.add_event(Event(step=purge_step, file_version="brain.Event:2"))
            self.file_writer.add_event(Event(step=purge_step, session_log=SessionLog(status=SessionLog.START)))

    def _writer_for(self, log_dir):
        if log_dir not in self._writers:
            _writable_dir(log_dir)
            self._writers[log_dir] = self._tb["EventFileWriter"](log_dir, self.max_queue, self.flush_secs,
                                                                 self.filename_suffix)
        return self._writers[log_dir]

    def get_logdir(self):
        return self.log_dir

    def _event(self, writer, step, walltime, **fields):
        Event = self._tb["event_pb2"].Event
        event = Event(wall_time=time.time() if walltime is None else walltime, **fields)
        if step is not None:
            event.step = int(step)
        writer.add_event(event)

    def _summary(self, value, step, walltime, writer=None):
        summary = self._tb["summary_pb2"].Summary(value=[value])
        self._event(writer or self.file_writer, step, walltime, summary=summary)

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        _check_tag(tag, "add_scalar")
        self._summary(self._scalar_value(tag, _scalar(scalar_value, "add_scalar"), new_style,
                                         double_precision), global_step, walltime)

    def _scalar_value(self, tag, number, new_style=False, double_precision=False):
        pb = self._tb["summary_pb2"]
        if not new_style:
            return pb.Summary.Value(tag=tag, simple_value=number)
        TensorProto = self._tb["tensor_pb2"].TensorProto
        tensor = (TensorProto(double_val=[number], dtype="DT_DOUBLE") if double_precision
                  else TensorProto(float_val=[number], dtype="DT_FLOAT"))
        meta = self._tb["scalar_metadata"].create_summary_metadata(display_name="", description="")
        return pb.Summary.Value(tag=tag, tensor=tensor, metadata=meta)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Each curve goes to its own run ``log_dir/main_tag_tag`` under the tag
        ``main_tag``, so TensorBoard draws them in one chart (PyTorch's layout)."""
        _check_tag(main_tag, "add_scalars")
        if not isinstance(tag_scalar_dict, dict):
            raise TypeError(f"SummaryWriter.add_scalars: tag_scalar_dict must be a dict, got "
                            f"{type(tag_scalar_dict).__name__}")
        numbers = {tag: _scalar(v, "add_scalars", f"tag_scalar_dict[{tag!r}]") for tag, v in tag_scalar_dict.items()}
        walltime = time.time() if walltime is None else walltime
        for tag, number in numbers.items():
            run = os.path.join(self.log_dir, main_tag.replace("/", "_") + "_" + tag)
            self._summary(self._scalar_value(main_tag, number), global_step, walltime, self._writer_for(run))

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None, max_bins=None):
        _check_tag(tag, "add_histogram")
        arr = _array(values, "add_histogram", "values")
        histo = _histogram(self._tb, arr, bins, max_bins)
        self._summary(self._tb["summary_pb2"].Summary.Value(tag=tag, histo=histo), global_step, walltime)

    def _image_value(self, tag, hwc):
        Image = self._tb["summary_pb2"].Summary.Image
        image = Image(height=hwc.shape[0], width=hwc.shape[1], colorspace=hwc.shape[2],
                      encoded_image_string=_png(hwc))
        return self._tb["summary_pb2"].Summary.Value(tag=tag, image=image)

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        _check_tag(tag, "add_image")
        hwc = _to_hwc(_array(img_tensor, "add_image", "img_tensor"), dataformats, "add_image")
        self._summary(self._image_value(tag, hwc), global_step, walltime)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        _check_tag(tag, "add_images")
        hwc = _to_hwc(_array(img_tensor, "add_images", "img_tensor"), dataformats, "add_images")
        self._summary(self._image_value(tag, hwc), global_step, walltime)

    def add_figure(self, tag, figure, global_step=None, close=True, walltime=None):
        """A matplotlib figure (or a list of them, shown as a grid) as an image."""
        figures = figure if isinstance(figure, (list, tuple)) else [figure]
        if not figures or not all(hasattr(f, "canvas") for f in figures):
            raise TypeError(f"SummaryWriter.add_figure: figure must be a matplotlib Figure or a list "
                            f"of them, got {type(figure).__name__}")
        images = [_figure_rgba(f) for f in figures]
        if close:
            import matplotlib.pyplot as plt
            for f in figures:
                plt.close(f)
        if isinstance(figure, (list, tuple)):
            self.add_images(tag, np.stack(images), global_step, walltime, dataformats="NHWC")
        else:
            self.add_image(tag, images[0], global_step, walltime, dataformats="HWC")

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        _check_tag(tag, "add_text")
        if not isinstance(text_string, str):
            raise TypeError(f"SummaryWriter.add_text: text_string must be a str, got {type(text_string).__name__}")
        TensorProto, Shape = self._tb["tensor_pb2"].TensorProto, self._tb["tensor_shape_pb2"].TensorShapeProto
        tensor = TensorProto(dtype="DT_STRING", string_val=[text_string.encode()],
                             tensor_shape=Shape(dim=[Shape.Dim(size=1)]))
        meta = self._tb["text_metadata"].create_summary_metadata(display_name="", description="")
        self._summary(self._tb["summary_pb2"].Summary.Value(tag=tag + "/text_summary", tensor=tensor,
                                                           metadata=meta), global_step, walltime)

    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None, run_name=None,
                    global_step=None):
        """One hyperparameter session, in the run ``log_dir/run_name`` (default: the
        time), with ``metric_dict``'s values as its scalars."""
        if not isinstance(hparam_dict, dict) or not isinstance(metric_dict, dict):
            raise TypeError("SummaryWriter.add_hparams: hparam_dict and metric_dict must be dicts")
        api, data, meta = self._tb["api_pb2"], self._tb["plugin_data_pb2"], self._tb["hparams_metadata"]
        start = data.SessionStartInfo()
        infos = []
        for k, v in hparam_dict.items():
            if isinstance(v, bool):
                start.hparams[k].bool_value, kind = v, "DATA_TYPE_BOOL"
            elif isinstance(v, str):
                start.hparams[k].string_value, kind = v, "DATA_TYPE_STRING"
            elif v is None:
                continue
            else:
                start.hparams[k].number_value, kind = _scalar(v, "add_hparams", f"hparam_dict[{k!r}]"), \
                    "DATA_TYPE_FLOAT64"
            infos.append(api.HParamInfo(name=k, type=api.DataType.Value(kind)))
        metrics = {k: _scalar(v, "add_hparams", f"metric_dict[{k!r}]") for k, v in metric_dict.items()}
        experiment = api.Experiment(hparam_infos=infos,
                                    metric_infos=[api.MetricInfo(name=api.MetricName(tag=k)) for k in metrics])
        end = data.SessionEndInfo(status=api.Status.Value("STATUS_SUCCESS"))
        writer = self._writer_for(os.path.join(self.log_dir, run_name or str(time.time())))
        Value = self._tb["summary_pb2"].Summary.Value
        for tag, content in ((meta.EXPERIMENT_TAG, data.HParamsPluginData(experiment=experiment)),
                             (meta.SESSION_START_INFO_TAG, data.HParamsPluginData(session_start_info=start)),
                             (meta.SESSION_END_INFO_TAG, data.HParamsPluginData(session_end_info=end))):
            self._summary(Value(tag=tag, metadata=meta.create_summary_metadata(content)), global_step, None, writer)
        for k, number in metrics.items():
            self._summary(self._scalar_value(k, number), global_step, None, writer)

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        """Run ``model(*input_to_model)`` once and write the tape it records."""
        if not callable(model) or not hasattr(model, "named_parameters"):
            raise TypeError(f"SummaryWriter.add_graph: model must be an nn.Module, got {type(model).__name__}")
        given = input_to_model if isinstance(input_to_model, (list, tuple)) else \
            () if input_to_model is None else (input_to_model,)
        inputs = []
        for i, x in enumerate(given):
            if not isinstance(x, Tensor):
                raise TypeError(f"SummaryWriter.add_graph: input {i} must be a tensor, got {type(x).__name__}")
            # float inputs join the tape as leaves, so the graph starts at them
            inputs.append(x.detach().requires_grad_() if x.dtype.kind == "f" else x)
        with enable_grad():
            outputs = [t for t in _flat_tensors(model(*inputs)) if t.grad_fn is not None]
        if not outputs:
            raise ValueError("SummaryWriter.add_graph: the model's outputs recorded no tape "
                             "(nothing requires grad), so there is no graph to write")
        graph = _graph_def(self._tb, model, inputs, outputs)
        if verbose:
            print(graph)
        self._event(self.file_writer, None, None, graph_def=graph.SerializeToString())

    def flush(self):
        for w in self._writers.values():
            w.flush()

    def close(self):
        for w in self._writers.values():
            w.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
