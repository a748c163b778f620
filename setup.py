"""Build script for the one compiled helper; everything else is in pyproject.toml.

``anyboard.summary._binning`` is optional: where no C compiler is available the extension is
skipped (``optional=True``) and histograms use the NumPy path, which gives the same counts.
"""

import sys

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "anyboard.summary._binning",
            ["src/anyboard/summary/_binning.c"],
            extra_compile_args=[] if sys.platform == "win32" else ["-O3"],
            optional=True,
        )
    ]
)
