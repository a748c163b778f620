"""Build script for the one compiled helper; everything else is in pyproject.toml.

``anyboard._native`` is optional: where no C compiler is available the extension is
skipped (``optional=True``) and histograms use the NumPy path, which gives the same counts.
"""

import sys

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "anyboard._native",
            ["src/anyboard/_native.c"],
            # -fno-trapping-math: no FP exception is ever observed, so selects may become min/max
            # (float_to_uint8 vectorizes); results are IEEE's either way.
            extra_compile_args=[] if sys.platform == "win32" else ["-O3", "-fno-trapping-math"],
            optional=True,
        )
    ]
)
