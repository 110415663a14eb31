"""Smoke test: runs against the installed package, from an empty directory."""

import twostage_sample

assert twostage_sample.greet("PyPI") == "Hello, PyPI!"
assert "site-packages" in twostage_sample.__file__, twostage_sample.__file__
print("twostage_sample", twostage_sample.__version__, "OK")
