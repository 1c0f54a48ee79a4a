"""Lesson-specific helpers: one small module per notebook, for plumbing that would clutter its cells."""
