"""CPU (numpy/scipy) kernels and the process settings they run best under (tuning.py)."""
