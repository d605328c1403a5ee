"""One error vocabulary: a closed set of rules, each with its message template and fix.

Two errors share it:

* :class:`ShapeError` -- a size, layer argument, array or configuration breaks a shape rule
  (the specs, the shape formulas, the kernels, the UNet checker);
* :class:`UsageError` -- the way nnbridge was called is wrong: a file that cannot be read or
  written, a malformed description, a command-line option, a limit on the work asked for.

Every error carries a :class:`Rule`. A rule is a member of a closed enumeration: its value is
the short name callers react to (``exc.rule == "kernel_fits"`` keeps working, a ``Rule`` is a
``str``), its ``template`` the message it gives when raised from values alone, and its ``fix``
(or ``None``) what usually repairs it. The command line turns either error into one line,
``nnbridge: error [rule]: message``, and exit status 2.

>>> raise ShapeError(Rule.NONNEG_SIZE, op="conv", name="padding", value=-1)
Traceback (most recent call last):
...
nnbridge.spec.errors.ShapeError: conv: padding must be at least 0, got padding=-1
"""

from __future__ import annotations

import enum

__all__ = ["NNBridgeError", "Rule", "ShapeError", "UsageError"]


class Rule(enum.StrEnum):
    """The closed set of rules an nnbridge error can name."""

    def __new__(cls, value: str, template: str, fix: str | None = None, usage: bool = False):
        member = str.__new__(cls, value)
        member._value_ = value
        member.template = template
        member.fix = fix
        member.usage = usage
        return member

    # -- arrays and dtypes -------------------------------------------------------------------
    ARRAY_TYPE = ("array_type", "{op}: {name} must be a numpy array, got {got}",
                  "pass a numpy.ndarray (np.asarray(...))")
    DTYPE = ("dtype", "{op}: {name} must be float32 or float64, got dtype {got}",
             "cast with .astype(np.float64) or .astype(np.float32)")
    DTYPE_MIX = ("dtype_mix", "{op}: operands must share one dtype, got {got}",
                 "cast every operand to one dtype; nnbridge never promotes silently")
    RANK = ("rank", "{op}: {name} must have {expected} axes, got shape {got}", None)
    SHAPE_MATCH = ("shape_match", "{op}: {name} must have shape {expected}, got {got}", None)
    CHANNELS = ("channels", "{op}: {expected} channels expected, got {got}", None)
    TOO_LARGE = ("too_large", "{op}: {what} would need {got} elements, above the limit of "
                 "{limit}", "use smaller sizes or fewer channels")
    # -- integer sizes and per-axis arguments --------------------------------------------
    INTEGER_SIZE = ("integer_size", "{op}: {name} must be an integer, got {value!r}", None)
    NONNEG_SIZE = ("nonneg_size", "{op}: {name} must be at least 0, got {name}={value}", None)
    POSITIVE_SIZE = ("positive_size", "{op}: {name} must be at least 1, got {name}={value}",
                     None)
    HUGE_SIZE = ("huge_size", "{op}: {name}={value} exceeds the largest supported size 2**48",
                 None)
    AXIS_COUNT = ("axis_count", "{op}: {name} has {got} axes, expected {expected}", None)
    NUMBER = ("number", "{op}: {name} must be a finite number{extra}, got {value}", None)
    # -- PyTorch's preconditions on layer sizes (the torch reading of the formulas) --------
    KERNEL_POSITIVE = ("kernel_positive", "{op}: kernel size should be greater than zero", None)
    STRIDE_POSITIVE = ("stride_positive", "{op}: stride must be greater than zero", None)
    DILATION_POSITIVE = ("dilation_positive", "{op}: dilation must be greater than zero", None)
    PADDING_NONNEG = ("padding_nonneg", "{op}: padding must be non-negative", None)
    INPUT_NONEMPTY = ("input_nonempty", "{op}: PyTorch rejects an empty spatial axis", None)
    KERNEL_FITS = ("kernel_fits", "{op}: the window is larger than the padded input",
                   "give a larger input or more padding, or a smaller kernel")
    AVG3D_KERNEL_FITS = ("avg3d_kernel_fits",
                         "{op}: avg_pool3d needs every input axis at least the kernel", None)
    POOL_PADDING = ("pool_padding", "{op}: padding must be at most half the kernel", None)
    OUTPUT_POSITIVE = ("output_positive", "{op}: the output size would be below 1", None)
    OUTPUT_PADDING_NONNEG = ("output_padding_nonneg", "{op}: output_padding must be >= 0", None)
    OUTPUT_PADDING_SMALL = ("output_padding_small",
                            "{op}: output_padding must be smaller than stride or dilation", None)
    # -- the two semantics -------------------------------------------------------------------
    SEMANTICS = ("semantics", "unknown semantics {value!r}: use 'lean' or 'torch'", None)
    LEAN_OPTION = ("lean_option", "{op}: semantics='lean' has no {name}",
                   "use semantics='torch'")
    LEAN_TORCH_DIVERGENCE = ("lean_torch_divergence",
                             "{op}: TorchLean's Nat formula and PyTorch disagree here",
                             "choose sizes inside the proved agreement domain")
    SYMBOLIC_CONDITION = ("symbolic_condition",
                          "symbolic condition outside a `conditions()` block", None)
    POOL_OP = ("pool_op", "pool_out: op must be 'max' or 'avg', got {value!r}", None)
    CEIL_MODE = ("ceil_mode", "{op}: ceil_mode must be a bool, got {value!r}", None)
    # -- configurations and models (TorchLean's WF) -----------------------------------------
    CONFIG_WF = ("config_wf", "{op}: the configuration is not well formed: {detail}", None)
    CONFIG_FIELD = ("config_field", "{op}: field {name} is invalid: {detail}", None)
    CONFIG_TYPE = ("config_type", "{op}: expected {expected}, got {got}", None)
    PARAM_NAMES = ("param_names", "{op}: parameter names do not match the model: {detail}",
                   None)
    MODEL_OBLIGATIONS = ("model_obligations",
                         "{op}: the input size breaks the model's obligations: {detail}", None)
    UNET_SIZE = ("unet_size", "the input size does not fit the network: {detail}",
                 "use one of the nearest valid sizes shown")
    RULE_PERIOD = ("rule_period", "the valid-size rule has no period up to {limit}", None)
    TAPE_NODE = ("tape_node", "tape: no node {value!r}", None)
    # -- usage: files, descriptions, command lines, limits -------------------------------
    CLI_USAGE = ("cli_usage", "{detail}", None, True)
    CONFIG_FILE = ("config_file", "cannot read {path}: {detail}", None, True)
    DESCRIPTION_VALUE = ("description_value", "{where}: {detail}", None, True)
    UNKNOWN_KEY = ("unknown_key", "{where}: unknown key {name!r}; allowed: {allowed}", None,
                   True)
    UNKNOWN_NAME = ("unknown_name", "unknown {kind} {name!r}; known: {known}", None, True)
    PARAM_SYNTAX = ("param_syntax", "--param expects key=value, got {value!r}", None, True)
    PARAM_VALUE = ("param_value", "{name}: {detail}", None, True)
    INPUT_SIZE = ("input_size", "{detail}", "write sizes as 572x572 (one per spatial axis)",
                  True)
    OUTPUT_PATH = ("output_path", "cannot write {path}: {detail}",
                   "name a file in a writable folder", True)
    WORK_LIMIT = ("work_limit", "{name}={value} is above the limit of {limit}: {detail}", None,
                  True)
    USER_CODE = ("user_code", "{where}: {detail}", None, True)
    # -- models: loading and tracing an nn.Module ------------------------------------------
    MODEL_LOAD = ("model_load", "cannot load the model {spec!r}: {detail}",
                  "name a Python file or module and a function returning the nn.Module, "
                  "e.g. examples/models/unets.py:plain_unet", True)
    MODEL_TRACE = ("model_trace", "cannot trace {where}: {detail}",
                   "keep sizes out of Python control flow in forward(), or describe the "
                   "network in a TOML/JSON description (docs/unet.md)", True)
    UNKNOWN_OP = ("unknown_op", "{where}: {detail}",
                  "the graph covers the layers listed in docs/models.md; describe the "
                  "network in a TOML/JSON description (docs/unet.md) instead", True)
    # -- PyTorch's convolution options -------------------------------------------------------
    PADDING_MODE = ("padding_mode", "{op}: padding_mode must be one of {allowed}, got {value}",
                    None)
    PADDING_SAME = ("padding_same", "{op}: padding='same' is not supported for strided "
                    "convolutions, got stride={stride}",
                    "use stride 1, or give the padding as integers")
    PADDING_WRAP = ("padding_wrap", "{op}: padding_mode={mode!r} needs the padding {bound} the "
                    "input size on every axis, got padding {padding} for input size {size}",
                    "use less padding, a larger input or padding_mode='zeros'")
    # -- PyTorch's resizing, padding and joining options --------------------------------------
    MODE = ("mode", "{op}: {name} must be one of {allowed}, got {value!r}", None)
    ONE_OF = ("one_of", "{op}: give exactly one of {names}, got {got}", None)
    OPTION_MODE = ("option_mode", "{op}: {name} applies only to the modes {modes}, got "
                   "mode={mode!r}", None)
    AXIS = ("axis", "{op}: dim={value!r} is not an axis of an array with {ndim} axes",
            "give dim in -ndim..ndim-1")
    # -- PyTorch's pooling options ---------------------------------------------------------
    FLAG = ("flag", "{op}: {name} must be a bool, got {value}", None)
    DIVISOR_NONZERO = ("divisor_nonzero", "{op}: divisor_override must not be 0, got {value}",
                       "give None to divide by the window's own count")


class NNBridgeError(ValueError):
    """Base of nnbridge's errors: a message that names the rule and the values, and the rule.

    ``NNBridgeError(Rule.X, **values)`` formats the rule's template with ``values``;
    ``NNBridgeError("message", rule=Rule.X)`` keeps a message written at the raise site. A
    rule given as a string must be the value of a :class:`Rule` member.
    """

    def __init__(self, message: str | Rule, *, rule: Rule | str | None = None,
                 fix: str | None = None, **values):
        if isinstance(message, Rule):
            rule, message = message, message.template.format(**values)
        elif values:
            raise TypeError(f"{type(self).__name__}: values {sorted(values)} need a Rule "
                            "as the first argument")
        if rule is None:
            raise TypeError(f"{type(self).__name__} needs a rule")
        try:
            rule = Rule(rule)
        except ValueError:
            raise TypeError(f"{rule!r} is not one of nnbridge's rules (nnbridge.spec.errors."
                            "Rule)") from None
        super().__init__(message)
        self.rule: Rule = rule
        self.fix: str | None = fix if fix is not None else rule.fix

    def one_line(self) -> str:
        """``[rule] message; fix: ...`` on one line, as the command line prints it."""
        text = " ".join(str(self).split())
        if self.fix and self.fix not in text:
            text = f"{text}; fix: {self.fix}"
        return f"[{self.rule.value}] {text}"


class ShapeError(NNBridgeError):
    """A size, layer argument, array or configuration breaks a shape rule.

    The message names the rule, the offending values and, where one exists, the fix.
    ``rule`` is the :class:`Rule` (a ``str``: ``exc.rule == "kernel_fits"``).
    """


class UsageError(NNBridgeError):
    """nnbridge was called wrongly: a file, a description, an option or a limit."""
