"""The store: the only part of mailengine that talks to the database."""
