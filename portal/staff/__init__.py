"""The back office: the data protection manager's queue, decisions, reports and audit."""
