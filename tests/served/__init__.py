"""Tests against real language-model servers (make test-served); a package so its conftest does not shadow tests/conftest.py."""
