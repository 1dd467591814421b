"""The privacy statement as data, and the pure rules over it. No Flask, no database."""
