"""GPU kernels (CUDA C sources with CuPy launchers and a host emulation)."""
