"""Bulk import of customers and orders from CSV and JSON Lines files."""
