"""What many tests share: contexts for the services, demo people, and helpers for pages, mails and browsers.

Test modules import from here, never from each other.
"""
