"""Polls and questionnaires: their files (`polls/*.yaml`, `questionnaires/*.yaml`), the
questions they ask, the signed links that answer them and the NPS figures of the answers.

It may import the shared vocabulary (tokens, yamlsource, errors) and `workflows`' problem
reporting; nothing of the store, the engine, the web or the studio.
"""
