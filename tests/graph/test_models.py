"""from_torch on real UNets: check(graph, shape).valid == running the module on zeros.

For every example model (examples/models/unets.py) the size graph's verdict, per-axis proved
rules and joint obligations together, is compared with ``runs_on`` (``.same`` for output
"same", ``.runs`` for "any") at every square size 1..128 (1..256 for the valid-convolution
UNet, which runs from 188; cubic 1..48 in 3-D), along each axis with the others fixed
(1..128; 1..64 in 3-D and for UNETR; 129..256 for the valid UNet), and at seeded random
shapes, in eval mode and in train mode with batch 1. Planted defects (an unknown op, control
flow on sizes, a wrong size graph, wrong pad amounts) show that the comparison and the front
end's errors can fail.
"""

import dataclasses
import importlib.util
import inspect
import random
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from nnbridge.spec.errors import Rule, UsageError  # noqa: E402
from torch import nn  # noqa: E402

from nnbridge.graph import from_torch, runs_on  # noqa: E402
from nnbridge.unet.explain import check  # noqa: E402
from nnbridge.unet.rule import rule_for  # noqa: E402

UNETS = Path(__file__).resolve().parents[2] / "examples" / "models" / "unets.py"
HERE = Path(__file__).name

MODES = ("eval", "train")
#: The 2-D models compared size by size, and the largest size swept on each axis.
TOP_2D = {"plain_unet": 128, "valid_unet": 256, "monai_unet": 128, "basic_unet": 128,
          "dyn_unet": 128, "attention_unet": 128, "unetr": 128, "swin_unetr": 128}
#: One axis at a time, where it is less than the square sweep (to keep the file fast):
#: UNETR is slow to check (twelve transformer layers) and valid at 32 alone, so 1..64 crosses
#: that too; the valid UNet rejects every size below 188, which its square sweep shows.
AXIS_SIZES = {"unetr": range(1, 65), "valid_unet": range(129, 257)}
CUBE, AXIS_3D = 48, 64
NEEDS = {"monai_unet": ("monai",), "monai_unet_3d": ("monai",), "basic_unet": ("monai",),
         "dyn_unet": ("monai",), "attention_unet": ("monai",), "unetr": ("monai", "einops"),
         "swin_unetr": ("monai", "einops")}
RANDOM_SHAPES = 8  # uniform shapes, and as many again drawn from each axis' valid sizes


def _load_unets():
    spec = importlib.util.spec_from_file_location("example_unets", UNETS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def unets():
    return _load_unets()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: one intra-op thread, which stays fast on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclasses.dataclass
class Model:
    name: str
    net: nn.Module
    spatial_dims: int
    output: str
    graphs: dict  # mode -> Graph


@pytest.fixture(scope="module")
def models(unets):
    """``get(name)``: the module and its graph per mode, built once per test module."""
    built: dict[str, Model] = {}

    def get(name: str) -> Model:
        if name not in built:
            for package in NEEDS.get(name, ()):
                pytest.importorskip(package)
            meta = unets.MODELS[name]
            torch.manual_seed(0)
            net = meta["factory"]()
            graphs = {mode: from_torch(net, spatial_dims=meta["spatial_dims"], mode=mode,
                                       batch=1, output=meta["output"]) for mode in MODES}
            built[name] = Model(name, net, meta["spatial_dims"], meta["output"], graphs)
        return built[name]

    return get


# -- the comparison and its message -------------------------------------------------------


def _shape_text(shape) -> str:
    return "x".join(map(str, shape))


def _graph_says(result) -> str:
    if result.valid:
        return "valid (output " + "x".join(str(a.trace.output) for a in result.axes) + ")"
    failure = result.first_failure()
    if failure is None:
        return "invalid"
    axis, ob = failure
    values = ", ".join(f"{k}={v}" for k, v in ob.values.items())
    return f"invalid ({axis}: {ob.name}: {ob.statement}" + (f"; {values}" if values else "") + ")"


def _running_says(run, ok: bool) -> str:
    if run.runs:
        out = "none" if run.output is None else _shape_text(run.output)
        return f"{'valid' if ok else 'invalid'} (output {out})"
    return f"invalid ({run.error})"


def compare(graph, net, shapes, *, output: str, mode: str) -> tuple[list[str], int]:
    """The shapes where ``check(graph, shape).valid`` and running ``net`` on zeros (``.same``
    for output "same", ``.runs`` for "any") give different verdicts, one line each naming the
    shape and both verdicts; and how many shapes running found valid."""
    found, valid = [], 0
    for shape in shapes:
        result = check(graph, shape)
        run = runs_on(net, shape, mode=mode, batch=1)
        ok = run.same if output == "same" else run.runs
        valid += ok
        if bool(result.valid) != ok:
            found.append(f"{_shape_text(shape)}: nnbridge {_graph_says(result)}, "
                         f"running {_running_says(run, ok)}")
    return found, valid


def disagreements(graph, net, shapes, *, output: str, mode: str) -> list[str]:
    """The lines of :func:`compare` alone."""
    return compare(graph, net, shapes, output=output, mode=mode)[0]


def report(label: str, compared: int, found: list[str], shown: int = 12) -> str:
    """``label: k of n shapes disagree`` and the first ``shown`` of them, one a line."""
    lines = [f"{label}: {len(found)} of {compared} shapes disagree"]
    lines += [f"  {line}" for line in found[:shown]]
    if len(found) > shown:
        lines.append(f"  ... and {len(found) - shown} more")
    return "\n".join(lines)


def _rules(model: Model, mode: str) -> list:
    return [rule_for(model.graphs[mode], axis) for axis in range(model.spatial_dims)]


def sweep_shapes(name: str, spatial_dims: int, rules) -> dict[str, list]:
    """The shapes compared for one model: square (cubic), one axis at a time with the others
    fixed at a size their rule accepts, and seeded random shapes."""
    top = TOP_2D[name] if spatial_dims == 2 else AXIS_3D
    cube = top if spatial_dims == 2 else CUBE
    along = AXIS_SIZES.get(name, range(1, top + 1))
    shapes = {"square" if spatial_dims == 2 else "cubic":
              [(n,) * spatial_dims for n in range(1, cube + 1)]}
    # the least size each rule accepts (a tight bottleneck: joint obligations bite there),
    # and in 2-D a second sweep with a roomy size on the other axis
    least = [r.first() for r in rules]
    roomy = [r.at_or_above(64) or r.first() for r in rules]
    for axis in range(spatial_dims):
        others = least if spatial_dims == 3 or axis == 0 else roomy
        if any(o is None for i, o in enumerate(others) if i != axis):
            continue  # no valid size to fix the others at: the square sweep covers it
        shapes[f"axis {axis}"] = [tuple(n if i == axis else others[i]
                                        for i in range(spatial_dims))
                                  for n in along]
    rng = random.Random(f"{name}/{spatial_dims}")
    uniform = [tuple(rng.randint(1, along[-1]) for _ in range(spatial_dims))
               for _ in range(RANDOM_SHAPES)]
    accepted = [[n for n in range(1, along[-1] + 1) if r.contains(n)] for r in rules]
    near = []
    if all(accepted):
        # each axis valid on its own, or one off: where only the joint obligations decide
        near = [tuple(max(1, rng.choice(a) + rng.choice((0, 0, 0, -1, 1))) for a in accepted)
                for _ in range(RANDOM_SHAPES)]
    shapes["random"] = uniform + near
    return shapes


MODELS_2D = sorted(TOP_2D)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", [*MODELS_2D, "monai_unet_3d"])
def test_every_rule_is_proved(models, name, mode):
    model = models(name)
    for rule in _rules(model, mode):
        assert rule.proved, (f"{name} ({mode}) axis {rule.axis}: proof {rule.status} "
                             f"(counterexample {rule.counterexample}): {rule.words()}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", [*MODELS_2D, "monai_unet_3d"])
def test_the_graph_agrees_with_running(models, name, mode):
    model = models(name)
    d = model.spatial_dims
    shapes = sweep_shapes(name, d, _rules(model, mode))
    assert set(shapes) == {"square" if d == 2 else "cubic", "random",
                           *(f"axis {i}" for i in range(d))}
    messages = []
    for what, batch in shapes.items():
        found, valid = compare(model.graphs[mode], model.net, batch, output=model.output,
                               mode=mode)
        if found:
            messages.append(report(f"{name} ({mode}, batch 1, output {model.output}) {what}",
                                   len(batch), found))
        elif what != "random":
            # each sweep crosses the boundary: it meets valid and invalid shapes
            assert 0 < valid < len(batch), f"{name} ({mode}) {what}: {valid} of {len(batch)}"
    assert not messages, "\n".join(messages)


def test_closed_forms_through_run_time_crops_are_fitted_and_proved(models):
    """The valid UNet's chain passes crops computed from sizes: its closed forms are fitted
    to the int values and proved by Z3 for every n >= 188 (572 gives 388)."""
    from nnbridge.unet.closed import closed_forms

    graph = models("valid_unet").graphs["eval"]
    forms = {c.stage: c for c in closed_forms(graph, 0, 188)}
    assert {c.status for c in forms.values()} == {"proved"}, forms
    assert forms["head"].closed == "16*floor(n/16 + 1/4) - 188"
    assert check(graph, (572, 572)).axes[0].trace.output == 388


def test_the_valid_unet_runs_from_188_and_the_graph_says_so(models):
    """The 'any' model's sweep reaches sizes that run: the comparison is not all-invalid."""
    model = models("valid_unet")
    for mode in MODES:
        rule = _rules(model, mode)[0]
        assert rule.first() == 188 and rule.contains(256)
        assert check(model.graphs[mode], (188, 189)).valid
        assert runs_on(model.net, (188, 189), mode=mode).runs


# -- the message names what disagrees ------------------------------------------------------


def _with_padding(graph, node_name: str, padding: tuple):
    nodes = tuple(dataclasses.replace(n, params={**n.params, "padding": padding})
                  if n.name == node_name else n for n in graph.nodes)
    return dataclasses.replace(graph, nodes=nodes)


def _padded_convs(graph) -> list[str]:
    return [n.name for n in graph.nodes
            if n.op == "conv" and n.params.get("padding") == (1, 1)]


@pytest.mark.parametrize(("where", "first", "last"), [
    ("inc", 16, 128),  # the first conv: every output is 2 short, never "same"
    ("down4", 16, 47),  # the bottleneck: the pad to the skip hides the loss from 48 on
])
def test_a_wrong_size_graph_disagrees_with_running(models, where, first, last):
    """plain_unet's graph with one 3x3 convolution's padding planted as 0: the verdicts
    now differ from running, and the message names each shape and both verdicts."""
    model = models("plain_unet")
    graph = model.graphs["eval"]
    conv = next(name for name in _padded_convs(graph) if name.startswith(where))
    wrong = _with_padding(graph, conv, (0, 0))
    assert wrong.node(conv).params["padding"] == (0, 0) and wrong != graph
    shapes = [(n, n) for n in range(1, 129)]
    found = disagreements(wrong, model.net, shapes, output="same", mode="eval")
    assert [line.split(":")[0] for line in found] == [f"{n}x{n}" for n in range(first, last + 1)]
    assert all(", running valid (output " in line for line in found)
    assert all(": nnbridge invalid (" in line for line in found)
    message = report("plain_unet (eval) square", len(shapes), found)
    assert message.startswith(f"plain_unet (eval) square: {last - first + 1} of 128 shapes "
                              "disagree")
    assert f"  {first}x{first}: nnbridge invalid (" in message
    assert f"running valid (output {first}x{first})" in message
    assert "... and" in message  # the list is cut, and says by how much
    # the untouched graph agrees at the same sizes
    assert disagreements(graph, model.net, shapes[first - 1:first + 2], output="same",
                         mode="eval") == []


# -- SwinUNETR: its NumPy size check read as a condition ----------------------------------


def test_swin_unetr_states_its_size_check(models):
    """SwinUNETR's forward checks the input with NumPy (which FX cannot trace): the graph
    holds that check as a divisibility condition on each axis, and names it when it fails."""
    model = models("swin_unetr")
    graph = model.graphs["eval"]
    checks = [n for n in graph.nodes if n.op == "require"]
    assert [(n.params["relation"], n.params["a"].args[0]) for n in checks] == [
        ("divides", 32), ("divides", 32)]
    result = check(graph, (48, 64))
    assert not result.valid
    axis, ob = result.first_failure()
    assert axis == "H" and "divisible by 32" in ob.statement
    assert runs_on(model.net, (48, 64)).error.startswith("ValueError: spatial dimensions [2]")


# -- planted defects: unknown ops and control flow -----------------------------------------


def _line_of(cls, text: str) -> int:
    """The line of this file where ``cls``'s source first contains ``text``."""
    lines, start = inspect.getsourcelines(cls)
    return start + next(i for i, line in enumerate(lines) if text in line)


class _Fft(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, kernel_size=3, padding=1)

    def forward(self, x):
        return torch.fft.fft2(self.conv(x)).real


class _Cumsum(nn.Module):
    def __init__(self, channels: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(channels, 2, kernel_size=3, padding=1)

    def forward(self, x):
        return self.conv(x).cumsum(2)


class _Nested(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, kernel_size=3, padding=1), inner)

    def forward(self, x):
        return self.body(x)


class _OddCrop(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, kernel_size=3, padding=1)

    def forward(self, x):
        if x.shape[2] % 2:
            x = x[:, :, :-1]
        return self.conv(x)


def _unknown_op(module) -> str:
    with pytest.raises(UsageError) as info:
        from_torch(module, spatial_dims=2)
    assert info.value.rule == Rule.UNKNOWN_OP, str(info.value)
    return str(info.value)


def test_an_unknown_function_is_named_with_its_line():
    text = _unknown_op(_Fft())
    assert "fft2" in text and "not an op the size graph knows" in text
    assert f"{HERE}:{_line_of(_Fft, 'fft2')}" in text
    assert "torch.fft.fft2(self.conv(x))" in text  # the source line itself


def test_an_unknown_tensor_method_is_named_with_its_line():
    text = _unknown_op(_Cumsum())
    assert ".cumsum()" in text
    assert f"{HERE}:{_line_of(_Cumsum, 'cumsum')}" in text


def test_an_unknown_call_deep_inside_names_the_module_path():
    text = _unknown_op(_Nested(_Cumsum(channels=4)))
    assert text.startswith("body.1 ") or " body.1 " in text, text
    assert ".cumsum()" in text and f"{HERE}:{_line_of(_Cumsum, 'cumsum')}" in text


def test_an_unknown_module_is_named_with_its_path_and_type():
    text = _unknown_op(_Nested(nn.PixelShuffle(2)))
    assert "body.1 (PixelShuffle)" in text and "module PixelShuffle" in text


def test_control_flow_on_sizes_is_refused_naming_the_line():
    with pytest.raises(UsageError) as info:
        from_torch(_OddCrop(), spatial_dims=2)
    assert info.value.rule == Rule.MODEL_TRACE
    text = str(info.value)
    assert f"{HERE}:{_line_of(_OddCrop, 'if x.shape')}" in text
    assert "if x.shape[2] % 2" in text and "_OddCrop" in text
    assert "control flow" in text


# -- planted defect: pad amounts computed wrongly, read as they are ---------------------------


class _Block(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


class _PadUp(nn.Module):
    """Up-sample by 2, pad to the skip, concatenate, convolve; ``wrong`` pads
    ``diff // 2`` on both sides, one short of the skip when ``diff`` is odd."""

    def __init__(self, in_channels: int, out_channels: int, wrong: bool):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv = _Block(in_channels + out_channels, out_channels)
        self.wrong = wrong

    def forward(self, x1, x2):
        x1 = self.up(x1)
        diffY = x2.size()[2] - x1.size()[2]
        diffX = x2.size()[3] - x1.size()[3]
        if self.wrong:
            x1 = F.pad(x1, [diffX // 2, diffX // 2, diffY // 2, diffY // 2])
        else:
            x1 = F.pad(x1, [diffX // 2, diffX - diffX // 2, diffY // 2, diffY - diffY // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class _SmallPadUNet(nn.Module):
    """Three poolings, the F.pad-to-skip idiom on the way up."""

    def __init__(self, wrong: bool):
        super().__init__()
        self.inc = _Block(1, 2)
        self.downs = nn.ModuleList(_Block(2, 2) for _ in range(3))
        self.pool = nn.MaxPool2d(2)
        self.ups = nn.ModuleList(_PadUp(2, 2, wrong) for _ in range(3))
        self.head = nn.Conv2d(2, 2, kernel_size=1)

    def forward(self, x):
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(self.pool(skips[-1])))
        x = skips.pop()
        for up in self.ups:
            x = up(x, skips.pop())
        return self.head(x)


@pytest.mark.parametrize("mode", MODES)
def test_wrong_pad_amounts_are_read_not_assumed(mode):
    torch.manual_seed(0)
    wrong, right = _SmallPadUNet(wrong=True), _SmallPadUNet(wrong=False)
    graphs = {net: from_torch(net, spatial_dims=2, mode=mode) for net in (wrong, right)}
    sizes = range(1, 129)
    squares = [(n, n) for n in sizes]
    for net, graph in graphs.items():
        found = disagreements(graph, net, squares, output="same", mode=mode)
        label = f"{'wrong' if net is wrong else 'right'} pads ({mode}) square"
        assert not found, report(label, len(squares), found)
    # the wrong amounts leave odd sizes one short at some level: multiples of 8 only;
    # the right ones accept every size from 8 (train, batch 1: from 16)
    least = 8 if mode == "eval" else 16
    verdicts = {net: [n for n in sizes if check(graph, (n, n)).valid]
                for net, graph in graphs.items()}
    assert verdicts[wrong] == [n for n in sizes if n % 8 == 0 and n >= least]
    assert verdicts[right] == list(range(least, 129))
    rule = rule_for(graphs[wrong], 0)
    assert rule.proved and rule.period == 8, rule.words()
    # one axis at a time, the other at a size both accept
    for axis in (0, 1):
        shapes = [(n, 24) if axis == 0 else (24, n) for n in range(1, 65)]
        found = disagreements(graphs[wrong], wrong, shapes, output="same", mode=mode)
        assert not found, report(f"wrong pads ({mode}) axis {axis}", len(shapes), found)


# -- bad arguments ----------------------------------------------------------------------------


def _plain_conv():
    return nn.Sequential(nn.Conv2d(1, 2, kernel_size=3, padding=1))


@pytest.mark.parametrize(("args", "kwargs", "words"), [
    ((lambda x: x,), {}, "needs a torch.nn.Module, got function"),
    (("plain_unet",), {}, "needs a torch.nn.Module, got str"),
    ((nn.Conv2d,), {}, "needs a torch.nn.Module, got type"),
    ((_plain_conv(),), {"spatial_dims": 4}, "spatial_dims must be 1, 2 or 3, got 4"),
    ((_plain_conv(),), {"spatial_dims": 0}, "spatial_dims must be 1, 2 or 3, got 0"),
    ((_plain_conv(),), {"spatial_dims": True}, "spatial_dims must be 1, 2 or 3, got True"),
    ((_plain_conv(),), {"spatial_dims": "2"}, "spatial_dims must be 1, 2 or 3, got '2'"),
    ((_plain_conv(),), {"mode": "test"}, "mode must be 'eval' or 'train', got 'test'"),
    ((_plain_conv(),), {"mode": None}, "mode must be 'eval' or 'train', got None"),
    ((_plain_conv(),), {"batch": 0}, "batch must be an integer"),
    ((_plain_conv(),), {"output": "equal"}, "output must be 'same' or 'any', got 'equal'"),
    ((nn.Sequential(nn.Flatten(), nn.Linear(4, 2)),), {"spatial_dims": 1},
     "Sequential has no convolution to read in_channels from: pass channels="),
    ((_plain_conv(),), {"spatial_dims": 2.0}, "spatial_dims must be 1, 2 or 3"),
    ((_plain_conv(),), {"channels": 0}, "channels"),
    ((_plain_conv(),), {"channels": 1.5}, "channels"),
], ids=["function", "str", "class", "dims4", "dims0", "dims-bool", "dims-str", "mode-test",
        "mode-none", "batch0", "output", "no-conv", "dims-float", "channels0", "channels-float"])
def test_bad_arguments_are_a_usage_error(args, kwargs, words):
    with pytest.raises(UsageError) as info:
        from_torch(*args, **kwargs)
    assert info.value.rule == Rule.DESCRIPTION_VALUE
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_a_module_without_a_convolution_is_read_with_channels():
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    graph = from_torch(net, spatial_dims=1, channels=1, output="any")
    for n in range(1, 9):
        assert bool(check(graph, (n,)).valid) == runs_on(net, (n,), channels=1).runs == (n == 4)


def test_graphs_differing_only_in_channels_get_their_own_rule():
    net = _plain_conv()
    wrong = from_torch(net, spatial_dims=2, channels=3)  # the conv wants 1 channel
    assert rule_for(wrong, 0).words() == "no size is valid"
    right = from_torch(net, spatial_dims=2)
    assert check(right, (8, 8)).valid
    assert rule_for(right, 0).words() == "any size"
