"""Builds the native scanner of the ingest hot path (everything else is in pyproject.toml).

The extension is optional: without a C compiler the package installs and ingest uses DuckDB alone."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "monitors.ingest._scan",
            sources=["monitors/ingest/_scan.c"],
            depends=["monitors/ingest/native/json.h", "monitors/ingest/native/tables.h", "monitors/ingest/native/duckhash.h"],
            include_dirs=["monitors/ingest"],
            extra_compile_args=["-O3", "-std=c11", "-fno-fast-math", "-Wall", "-Wno-missing-braces"],
            optional=True,
        )
    ]
)
