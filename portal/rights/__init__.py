"""Exercising rights: the person's forms and the status of their requests."""
