"""Modules the benchmarks import (workflow definitions must live outside ``__main__``); not benchmarks."""
