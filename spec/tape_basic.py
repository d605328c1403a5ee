"""Kept for older imports: every op record is a tape node (see :mod:`nnbridge.spec.tape`).

Importing :mod:`nnbridge.spec.tape` registers ``linear``, ``relu``, ``batch_norm``,
``global_avg_pool``, ``flatten``, ``concat``, ``shortcut``, ``channel_pad``,
``channel_slice``, ``pad``, ``crop``, ``add`` and every other declared op.
"""

from . import tape  # noqa: F401

__all__: list[str] = []
