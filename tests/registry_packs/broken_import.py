"""A pack whose import fails (a missing dependency), as happens on misconfigured farm nodes."""
import filmai_missing_dependency_xyz  # noqa: F401
