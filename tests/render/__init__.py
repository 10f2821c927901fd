"""Tests of personalised rendering: templates, sandbox, compile-once, text part, checks."""
