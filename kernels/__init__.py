"""Triton kernels and their launch wrappers (asyncsim.kernels)."""
