"""Bulk import of customers and orders from CSV and JSON Lines files.

It may import the shared vocabulary and `store`; nothing of the other packages.
"""
