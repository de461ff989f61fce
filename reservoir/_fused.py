"""The leaky update fused into one elementwise pass on a GPU.

One reservoir step after its recurrent product is

    x(t) = (1 - a) x(t-1) + a f(wx + u + v)

with wx = W x(t-1) and u, v the rest of the pre-activation (the drive, the
bias, the fed-back outputs). Written with array operations, that is four
to five passes over the state, each its own kernel launch on a GPU, where
a step of a small reservoir costs a few launches and nothing else. On CuPy
the whole line is one ``cupy.ElementwiseKernel`` built from the operation
text below, compiled at its first use; ``import reservoir`` never imports
CuPy, and other namespaces keep the array expression of
:func:`reservoir._states.leaky_step`, which is the reference the kernel is
tested against.

The operation text is also Python: evaluated with the activations of
:mod:`reservoir.activations` bound to its function names, it computes the
reference on any namespace, which is how the kernel's text is tested on a
machine without a GPU.
"""

from __future__ import annotations

import functools

from ._backend import is_cupy

__all__ = ["FUSED_PARAMS", "fused_operation", "fused_step", "make_fused_kernel"]

# Inputs and output of the kernel: z = wx + u + v, evaluated left to right
# as the array expression ``operator(x) + u + v`` is.
FUSED_PARAMS = ("T wx, T u, T v, T x, T a", "T y")

# Device functions for the activations that are not a CUDA math function;
# each is the expression of reservoir.activations for one element.
_PREAMBLE = """
template <typename T> __device__ T relu(T z) { return z > (T)0 ? z : (T)0; }
template <typename T> __device__ T sigmoid(T z) { return (T)0.5 * ((T)1 + tanh((T)0.5 * z)); }
"""

_FUNCTIONS = {"tanh": "tanh", "relu": "relu", "sigmoid": "sigmoid", "identity": ""}


def fused_operation(activation_name, leak_rate):
    """The kernel's operation: ``y = x + a * (f(wx + u + v) - x)``, or ``y = f(...)`` for a = 1."""
    f = _FUNCTIONS[activation_name]
    z = f"{f}(wx + u + v)"
    return f"y = {z}" if leak_rate == 1.0 else f"y = x + a * ({z} - x)"


@functools.lru_cache(maxsize=None)
def _cupy_kernel(activation_name, full_step):
    import cupy

    return make_fused_kernel(cupy.ElementwiseKernel, activation_name, 1.0 if full_step else 0.5)


def make_fused_kernel(elementwise_kernel, activation_name, leak_rate):
    """The fused step as a kernel of class ``elementwise_kernel`` (``cupy.ElementwiseKernel``).

    Only whether ``leak_rate`` is 1 matters: the rate itself is an argument.
    """
    full = leak_rate == 1.0
    return elementwise_kernel(
        *FUSED_PARAMS, fused_operation(activation_name, leak_rate) + ";",
        f"reservoir_leaky_{activation_name}{'_full' if full else ''}", preamble=_PREAMBLE)


def fused_step(xp, activation_name, leak_rate, *, kernel=None):
    """``step(x, wx, *terms) -> x(t)``, fused into one kernel on CuPy; None elsewhere.

    The pre-activation is ``wx + terms[0] + terms[1] + ...``, added left to
    right; a step with more than two terms adds the first ones before the
    kernel. ``kernel`` (built by :func:`make_fused_kernel`) replaces CuPy's,
    for a test of the kernel's text on another namespace.
    """
    if kernel is None:
        if activation_name is None or not is_cupy(xp):
            return None
        kernel = _cupy_kernel(activation_name, leak_rate == 1.0)

    def step(x, wx, *terms):
        while len(terms) > 2:
            wx, terms = wx + terms[0], terms[1:]
        u, v = (terms + (0, 0))[:2]
        return kernel(wx, u, v, x, leak_rate)

    return step
