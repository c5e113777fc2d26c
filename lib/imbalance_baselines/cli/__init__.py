"""Command-line entry points: thin faces over the study layer (reproduce, status, bench, gpu-check)."""
