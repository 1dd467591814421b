"""Demo data and what the demo back office starts with (`flask --app wsgi seed-demo [--with-tasks]`)."""
