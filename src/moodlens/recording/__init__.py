"""Recording events as they happen: mood timelines of a meeting, a class or a concert, kept in a database."""
