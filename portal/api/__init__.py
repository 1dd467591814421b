"""The JSON API for the company's systems: they push what they hold and confirm what they did."""
