"""Every op is exported from nnbridge.spec as a function; importing the package stays cheap."""

import subprocess
import sys

import nnbridge.spec as spec
from nnbridge.spec.ops import ops


def test_every_op_and_its_rules_are_exported_as_functions():
    for op in ops():
        for fn in (op.forward, op.vjp, op.jvp):
            assert getattr(spec, fn.__name__) is fn
            assert fn.__name__ in spec.__all__
    from nnbridge.spec import conv, conv_vjp, leaky_relu

    assert callable(conv) and conv.__name__ == "conv" and conv_vjp.__name__ == "conv_vjp"
    assert leaky_relu is next(op.forward for op in ops() if op.name == "leaky_relu")


def test_exports_are_exactly_the_records_functions_and_the_errors():
    names = {fn.__name__ for op in ops() for fn in (op.forward, op.vjp, op.jvp)}
    assert set(spec.__all__) == names | {"NNBridgeError", "Rule", "ShapeError", "UsageError"}


def test_importing_the_package_does_not_import_numpy():
    code = "import sys, nnbridge.spec; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


def test_conv_is_the_function_whatever_was_imported_first():
    code = ("import nnbridge.spec.convolution, nnbridge.spec.pool\n"
            "from nnbridge.spec import conv, max_pool\n"
            "print(conv.__module__, max_pool.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["nnbridge.spec.convolution", "nnbridge.spec.pool"]
