"""Golden-file testing of what your code logs (filled in by the testing-kit work)."""
