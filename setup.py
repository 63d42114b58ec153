"""The optional C extension; everything else is in pyproject.toml.

``trio_feeds._speedups`` holds C versions of the order book's two hot loops.
It is ``optional``: without a C compiler the install goes on and the package
uses the same loops in pure Python (``trio_feeds.books.orderbook.SPEEDUPS`` says which).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "trio_feeds._speedups",
            ["trio_feeds/_speedups.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
