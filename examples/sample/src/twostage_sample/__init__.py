"""A sample package for twostage's demo."""

__version__ = "0.1.0"


def greet(name: str) -> str:
    return f"Hello, {name}!"
